//! Keys in a recording, as short text: `q`, `space`, `Enter`, `ctrl+c`, `shift+BackTab`.
//! Used through `#[serde(with = ...)]` on [`crate::dashboard::AppEvent::Key`].
//!
//! Modifiers come first, each followed by `+`; the rest is the key. A key this format has no
//! name for is written `Unknown` and read back as a key the dashboard ignores.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::{Deserialize, Deserializer, Serializer};

const MODIFIERS: [(&str, KeyModifiers); 3] =
    [("ctrl+", KeyModifiers::CONTROL), ("alt+", KeyModifiers::ALT), ("shift+", KeyModifiers::SHIFT)];

const NAMED: [(&str, KeyCode); 14] = [
    ("space", KeyCode::Char(' ')),
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Backspace", KeyCode::Backspace),
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
];

/// The text of a key press.
pub fn to_text(k: &KeyEvent) -> String {
    let mut out = String::new();
    for (prefix, m) in MODIFIERS {
        if k.modifiers.contains(m) {
            out.push_str(prefix);
        }
    }
    match (NAMED.iter().find(|(_, c)| *c == k.code), k.code) {
        (Some((name, _)), _) => out.push_str(name),
        (None, KeyCode::Char(c)) => out.push(c),
        (None, KeyCode::Delete) => out.push_str("Delete"),
        (None, KeyCode::F(n)) => out.push_str(&format!("F{n}")),
        (None, _) => out.push_str("Unknown"),
    }
    out
}

/// The key press a text stands for; `None` when it names no key.
pub fn from_text(s: &str) -> Option<KeyEvent> {
    let mut rest = s;
    let mut modifiers = KeyModifiers::NONE;
    // `ctrl++` is Ctrl and `+`: a prefix only counts when a key follows it.
    while let Some((prefix, m)) = MODIFIERS.iter().find(|(p, _)| rest.len() > p.len() && rest.starts_with(p)) {
        modifiers |= *m;
        rest = &rest[prefix.len()..];
    }
    let code = match NAMED.iter().find(|(name, _)| *name == rest) {
        Some((_, code)) => *code,
        None if rest == "Delete" => KeyCode::Delete,
        None if rest == "Unknown" => KeyCode::Null,
        None => match (rest.chars().next(), rest.chars().count()) {
            (Some(c), 1) => KeyCode::Char(c),
            (Some('F'), _) => KeyCode::F(rest[1..].parse().ok()?),
            _ => return None,
        },
    };
    Some(KeyEvent::new(code, modifiers))
}

pub fn serialize<S: Serializer>(k: &KeyEvent, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_text(k))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyEvent, D::Error> {
    let text = String::deserialize(d)?;
    from_text(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` names no key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text() {
        let keys = [
            KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            KeyEvent::new(KeyCode::Char('+'), KeyModifiers::CONTROL),
            KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Char('K'), KeyModifiers::SHIFT),
            KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
            KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE),
            KeyEvent::new(KeyCode::Delete, KeyModifiers::ALT),
        ];
        for k in keys {
            let text = to_text(&k);
            assert_eq!(from_text(&text), Some(k), "{text}");
        }
        assert_eq!(to_text(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), "ctrl+c");
        assert_eq!(to_text(&KeyEvent::new(KeyCode::Char(' '), KeyModifiers::NONE)), "space");
        assert_eq!(to_text(&KeyEvent::new(KeyCode::CapsLock, KeyModifiers::NONE)), "Unknown");
        assert_eq!(from_text("Unknown").map(|k| k.code), Some(KeyCode::Null));
        assert_eq!(from_text(""), None);
        assert_eq!(from_text("Fx"), None);
    }
}
