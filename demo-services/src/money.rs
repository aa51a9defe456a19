//! Money as the services see it: decimal amount strings ("19.99") in a currency, and their
//! exact value in minor units (1999 cents). Exact means integer arithmetic on the digits,
//! never a float.

use serde::{Deserialize, Serialize};

/// A supported currency and the number of decimals of its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency {
    pub code: &'static str,
    /// 2 for EUR (cents), 0 for JPY.
    pub exponent: u32,
}

const CURRENCIES: &[Currency] = &[
    Currency { code: "EUR", exponent: 2 },
    Currency { code: "USD", exponent: 2 },
    Currency { code: "GBP", exponent: 2 },
    Currency { code: "CHF", exponent: 2 },
    Currency { code: "SEK", exponent: 2 },
    Currency { code: "JPY", exponent: 0 },
];

impl Currency {
    /// Looks a currency up by ISO code (case-insensitive).
    pub fn parse(code: &str) -> Option<Currency> {
        CURRENCIES.iter().copied().find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    /// Codes of every supported currency, for error messages.
    pub fn supported() -> String {
        CURRENCIES.iter().map(|c| c.code).collect::<Vec<_>>().join(", ")
    }

    /// Minor units per major unit (100 for EUR).
    pub fn scale(&self) -> i64 {
        10i64.pow(self.exponent)
    }
}

/// Why an amount string is not a valid amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a decimal number like 19.99")]
    NotDecimal(String),
    #[error("amount {amount:?} has more decimals than {currency} allows ({exponent})")]
    TooPrecise { amount: String, currency: &'static str, exponent: u32 },
    #[error("amount {0:?} must be greater than zero")]
    NotPositive(String),
    #[error("amount {0:?} is too large")]
    TooLarge(String),
}

/// Parses a decimal amount into exact minor units: `"19.99"` EUR is 1999.
pub fn parse_minor(amount: &str, currency: Currency) -> Result<i64, AmountError> {
    let text = amount.trim();
    let not_decimal = || AmountError::NotDecimal(amount.to_string());
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !digits(int_part) || !digits(frac_part) || (text.contains('.') && frac_part.is_empty()) {
        return Err(not_decimal());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > currency.exponent as usize {
        return Err(AmountError::TooPrecise { amount: amount.to_string(), currency: currency.code, exponent: currency.exponent });
    }
    let too_large = || AmountError::TooLarge(amount.to_string());
    let major: i64 = int_part.parse().map_err(|_| too_large())?;
    let mut minor_text = frac_trimmed.to_string();
    while minor_text.len() < currency.exponent as usize {
        minor_text.push('0');
    }
    let minor: i64 = if minor_text.is_empty() { 0 } else { minor_text.parse().map_err(|_| not_decimal())? };
    let total = major.checked_mul(currency.scale()).and_then(|m| m.checked_add(minor)).ok_or_else(too_large)?;
    if total <= 0 {
        return Err(AmountError::NotPositive(amount.to_string()));
    }
    Ok(total)
}

/// Formats minor units as a decimal amount: 1999 EUR is `"19.99"`.
pub fn format_minor(minor: i64, currency: Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if currency.exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = currency.scale() as u64;
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = currency.exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("eur").unwrap()
    }

    #[test]
    fn parses_exactly() {
        for (text, minor) in [("19.99", 1999), ("12.99", 1299), ("100", 10_000), ("100.00", 10_000), ("0.29", 29), ("49.9", 4990), ("1.150", 115)] {
            assert_eq!(parse_minor(text, eur()), Ok(minor), "{text}");
        }
        assert_eq!(parse_minor("1500", Currency::parse("JPY").unwrap()), Ok(1500));
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert!(matches!(parse_minor("abc", eur()), Err(AmountError::NotDecimal(_))));
        assert!(matches!(parse_minor("-5", eur()), Err(AmountError::NotDecimal(_))));
        assert!(matches!(parse_minor("1.", eur()), Err(AmountError::NotDecimal(_))));
        assert!(matches!(parse_minor("1.999", eur()), Err(AmountError::TooPrecise { .. })));
        assert!(matches!(parse_minor("0.00", eur()), Err(AmountError::NotPositive(_))));
        assert!(matches!(parse_minor("99999999999999999999", eur()), Err(AmountError::TooLarge(_))));
        assert!(Currency::parse("XXX").is_none());
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_minor(1999, eur()), "19.99");
        assert_eq!(format_minor(5, eur()), "0.05");
        assert_eq!(format_minor(-1999, eur()), "-19.99");
        assert_eq!(format_minor(1500, Currency::parse("JPY").unwrap()), "1500");
    }
}
