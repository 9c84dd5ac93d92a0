//! An error and its causes as one line that says each thing once. `anyhow`'s `{:#}` joins every
//! cause with `: `, and an error whose message already quotes its cause (as many do, so that a
//! log line that shows only the top one still says why) then says it twice: `cannot read model
//! x.onnx: No such file or directory (os error 2): No such file or directory (os error 2)`.

/// `error` and each of its causes, joined with `: `, leaving out a cause whose words the line
/// already holds.
pub fn sentence(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let words = next.to_string();
        if !words.is_empty() && !line.contains(&words) {
            line.push_str(": ");
            line.push_str(&words);
        }
        cause = next.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read model x.onnx: {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Wrapper(Quoting);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("--model x.onnx")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let words = missing.to_string();
        let error = Wrapper(Quoting(missing));
        assert_eq!(sentence(&error), format!("--model x.onnx: cannot read model x.onnx: {words}"));
        assert_eq!(sentence(&std::io::Error::other("plain")), "plain");
    }
}
