//! The README and the docs say what to type: every nvt command in their shell blocks, and every
//! flag in a program's flag table, must be one the program takes, so that a reader who copies a
//! command meets the program, not an "unexpected argument".

use nvt_tests::harness::binary;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pages readers copy commands from.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("models/README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The flags a program (with its subcommand, for nvt-fleet) takes, from its `--help`.
struct Helps(HashMap<Vec<String>, String>);

impl Helps {
    fn takes(&mut self, program: &[String], flag: &str) -> bool {
        let help = self.0.entry(program.to_vec()).or_insert_with(|| {
            let out = Command::new(binary(&program[0]))
                .args(&program[1..])
                .arg("--help")
                .output()
                .unwrap_or_else(|e| panic!("{program:?} --help: {e}"));
            assert!(out.status.success(), "{program:?} --help failed: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        });
        help.match_indices(flag).any(|(at, _)| {
            let next = help[at + flag.len()..].chars().next();
            !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    }
}

/// Every command line of the page's shell blocks, continuation lines joined.
fn shell_commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let (mut inside, mut current) = (false, String::new());
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && matches!(line.trim(), "```sh" | "```bash" | "```shell");
            continue;
        }
        if !inside {
            continue;
        }
        let line = line.split(" # ").next().unwrap_or("");
        if line.trim_start().starts_with('#') {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                commands.extend(current.split(['|', ';', '&']).map(|c| c.trim().to_owned()));
                current.clear();
            }
        }
    }
    commands
}

/// The nvt program a command runs (with nvt-fleet's subcommand) and the flags it gives it.
fn nvt_command(command: &str) -> Option<(Vec<String>, Vec<String>)> {
    let mut words = command.split_whitespace();
    let first = words.next()?;
    let name = first.strip_prefix("target/release/").unwrap_or(first);
    if !name.starts_with("nvt-") {
        return None;
    }
    let mut program = vec![name.to_owned()];
    let rest: Vec<&str> = words.collect();
    if name == "nvt-fleet" {
        program.push(rest.first()?.to_string());
    }
    let flags = rest
        .iter()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.split('=').next().unwrap_or(w).trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        .map(str::to_owned)
        .collect();
    Some((program, flags))
}

#[test]
fn every_command_in_the_readme_and_the_docs_uses_flags_the_program_takes() {
    let mut helps = Helps(HashMap::new());
    let mut unknown = BTreeSet::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page");
        for command in shell_commands(&text) {
            let Some((program, flags)) = nvt_command(&command) else { continue };
            checked += 1;
            for flag in flags {
                if !helps.takes(&program, &flag) {
                    unknown.insert(format!("{}: {} {flag}", page.display(), program.join(" ")));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} commands found: is the parsing right?");
    assert!(
        unknown.is_empty(),
        "flags the programs do not take:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_flag_in_a_programs_flag_table_is_one_it_takes() {
    let mut helps = Helps(HashMap::new());
    let mut unknown = BTreeSet::new();
    let mut checked = 0;
    for (page, program) in [
        ("docs/server.md", &["nvt-server"][..]),
        ("docs/client.md", &["nvt-client"]),
        ("docs/events.md", &["nvt-server"]),
        ("docs/fleet.md", &["nvt-fleet", "push"]),
    ] {
        let program: Vec<String> = program.iter().map(|p| (*p).to_owned()).collect();
        let text = std::fs::read_to_string(root().join(page)).expect("page");
        for row in text.lines().filter(|l| l.starts_with("| `--")) {
            let cell = row.split('|').nth(1).unwrap_or("");
            for flag in cell.split('`').filter(|w| w.starts_with("--")) {
                let flag = flag.split([' ', '=']).next().unwrap_or(flag);
                checked += 1;
                if !helps.takes(&program, flag) {
                    unknown.insert(format!("{page}: {} {flag}", program.join(" ")));
                }
            }
        }
    }
    assert!(checked >= 60, "only {checked} flags found in the tables: is the parsing right?");
    assert!(
        unknown.is_empty(),
        "flags the tables list that the programs do not take:\n{}",
        unknown.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_parser_finds_commands_and_flags() {
    let text = "```sh\ntarget/release/nvt-server --model m.onnx \\\n  --http 8080 | tee x # comment\n# only a comment\nnvt-fleet push --nats nats://h yolo.onnx\n```\n";
    let commands: Vec<_> = shell_commands(text).into_iter().filter_map(|c| nvt_command(&c)).collect();
    assert_eq!(
        commands,
        vec![
            (vec!["nvt-server".to_owned()], vec!["--model".to_owned(), "--http".to_owned()]),
            (vec!["nvt-fleet".to_owned(), "push".to_owned()], vec!["--nats".to_owned()]),
        ]
    );
}
