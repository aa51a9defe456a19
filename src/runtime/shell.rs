//! Shell quoting for the equivalent commands: words that need no quoting stay bare (the
//! commands are read on a projector), anything else is single-quoted.

/// `word` as one POSIX shell word.
pub(crate) fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("faultline-payment"), "faultline-payment");
        assert_eq!(quote("RUST_LOG=info"), "RUST_LOG=info");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(x)"), "'$(x)'");
    }
}
