//! Flags that clap "corrects" into the wrong thing. For a flag a program does not take, clap
//! names the closest one it does, and that is sometimes another thing altogether: `nvt-detect
//! --out DIR` gets "a similar argument exists: '--output'", the name of the model's output
//! tensor, where the user meant the folder of annotated copies. A program lists the flags people
//! type for it, with the tip that names the flag they mean; [`parse`] gives that tip instead of
//! clap's, and everything else as clap does.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// Flags a program does not take, and what to tell the user who types one.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    /// The flags, as typed (`--out`).
    pub typed: &'static [&'static str],
    /// The tip, naming the flag meant (`give '--annotate DIR'`).
    pub tip: &'static str,
}

/// Parses the command line as `A::parse()` does (exiting with status 2 on a bad flag), with the
/// tip of the [`Hint`] that lists a flag the user typed instead of clap's suggestion.
pub fn parse<A: clap::Parser>(hints: &[Hint]) -> A {
    A::try_parse().unwrap_or_else(|error| reword(error, hints, &mut A::command()).exit())
}

/// `error` with the tip of the hint for its unknown flag, and a usage line that no longer
/// names the flag clap suggested; other errors unchanged.
pub fn reword(mut error: clap::Error, hints: &[Hint], command: &mut clap::Command) -> clap::Error {
    if error.kind() != ErrorKind::UnknownArgument {
        return error;
    }
    let Some(ContextValue::String(typed)) = error.get(ContextKind::InvalidArg) else { return error };
    let flag = typed.split_once('=').map_or(typed.as_str(), |(flag, _)| flag);
    let Some(hint) = hints.iter().find(|hint| hint.typed.contains(&flag)) else { return error };
    let tip = hint.tip.to_owned();
    error.remove(ContextKind::SuggestedArg);
    error.insert(ContextKind::Suggested, ContextValue::StyledStrs(vec![tip.into()]));
    error.insert(ContextKind::Usage, ContextValue::StyledStr(command.render_usage()));
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    #[command(name = "demo")]
    struct Args {
        /// The model's output name.
        #[arg(long)]
        output: Option<String>,
        /// A folder.
        #[arg(long)]
        annotate: Option<String>,
    }

    const HINTS: &[Hint] = &[Hint { typed: &["--out", "--outdir"], tip: "give '--annotate DIR'" }];

    fn said(args: &[&str]) -> String {
        let error = Args::try_parse_from(args).expect_err("a bad flag");
        reword(error, HINTS, &mut Args::command()).render().to_string()
    }

    #[test]
    fn a_listed_flag_gets_its_tip_instead_of_clap_s_suggestion() {
        for typed in [["demo", "--out", "x"], ["demo", "--out=x", "y"], ["demo", "--outdir", "x"]] {
            let text = said(&typed);
            assert!(text.contains("tip: give '--annotate DIR'"), "{text}");
            assert!(!text.contains("--output"), "neither as a suggestion nor in the usage: {text}");
        }
    }

    #[test]
    fn other_mistakes_keep_clap_s_words() {
        let text = said(&["demo", "--outputs", "x"]);
        assert!(text.contains("a similar argument exists: '--output'"), "{text}");
        let text = said(&["demo", "--annotate"]);
        assert!(text.contains("a value is required"), "{text}");
    }
}
