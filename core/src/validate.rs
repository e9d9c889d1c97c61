//! Parsing of user input into values that are valid by construction
//! ("parse, don't validate"). Each parser returns a field error message.

pub mod schema;

/// The e-mail addresses bazaar takes: ones every mail server delivers to.
/// The local part is RFC 5321's dot-atom in ASCII (a word of up to 40
/// characters, then up to two more of up to 11 after dots: never over the
/// 64 a mail server takes); the domain has 2-5 labels of Latin or Cyrillic
/// letters (Russian and Kazakh IDN domains), digits and inner hyphens, up to
/// 35 characters each, so no address passes here and fails at the mailer
/// (an address the fuzzer found, `ħº@ĝ2f\`.±ė...`, was accepted at sign-up
/// and then refused by the SMTP library, losing the welcome mail).
/// `schema::email` declares this very pattern.
pub(crate) static EMAIL_PATTERN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let atext = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
    let letters = r"A-Za-z0-9\u0410-\u044f\u0401\u0451\u0406\u0456\u0492\u0493\u049a\u049b\u04a2\u04a3\u04ae\u04af\u04b0\u04b1\u04ba\u04bb\u04d8\u04d9\u04e8\u04e9";
    let label = format!("[{letters}](?:[{letters}-]{{0,33}}[{letters}])?");
    format!(r"{atext}{{1,40}}(?:\.{atext}{{1,11}}){{0,2}}@(?:{label}\.){{1,4}}{label}")
});

pub fn email(raw: &str) -> Result<String, &'static str> {
    static EMAIL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!("^(?:{})$", *EMAIL_PATTERN))
            .expect("the e-mail pattern compiles")
    });
    let s = raw.trim();
    if s.is_empty() {
        return Err("is required");
    }
    if !EMAIL.is_match(s) {
        return Err("is not a valid e-mail address");
    }
    Ok(s.to_lowercase())
}

pub fn password(raw: &str) -> Result<(), &'static str> {
    match raw.chars().count() {
        0..=7 => Err("must be at least 8 characters"),
        8..=128 => Ok(()),
        _ => Err("must be at most 128 characters"),
    }
}

pub fn name(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    match s.chars().count() {
        0 => Err("is required"),
        1..=100 => Ok(s.to_owned()),
        _ => Err("must be at most 100 characters"),
    }
}

/// A phone number in E.164 (`+77011234567`), the one form bazaar stores and
/// compares. Numbers of Kazakhstan and Russia (country code 7) are also taken
/// in their domestic forms: with the trunk prefix (`8 701 123 45 67`),
/// without the plus (`7 701 ...`), or as the bare ten digits Kaspi sends
/// (`701 123 45 67`). Any other country's number needs its `+` and country
/// code. Spaces, dashes, dots and parentheses are dropped.
pub fn phone(raw: &str) -> Result<String, &'static str> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let (plus, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be a phone number: digits, with + and the country code");
    }
    let national = match (plus, digits.len(), digits.as_bytes()[0]) {
        // E.164: a country code that does not start with 0, 8 to 15 digits.
        (true, 8..=15, b'1'..=b'9') => return Ok(format!("+{digits}")),
        (true, _, _) => return Err("must have 8 to 15 digits after the +"),
        (false, 11, b'7' | b'8') => &digits[1..],
        (false, 10, b'3'..=b'9') => digits,
        _ => return Err(
            "must start with + and the country code (a Kazakh or Russian number may start with 8)",
        ),
    };
    Ok(format!("+7{national}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Addresses no mail server takes (also `schema`'s cases).
    pub(crate) const BAD_EMAILS: &[&str] = &[
        "",
        "ann",
        "ann@",
        "@x.com",
        "a b@x.com",
        "ann@x",
        "a@b@c.com",
        "ann@x.",
        "ann@.x",
        "ann@x..y",
        "ħº@ĝ2f`.±ė.com",
        "a<b@x.com",
        "ann@-x.com",
        "a\u{1}@b.c",
    ];

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(email(" Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        assert_eq!(
            email("first.last+tag@mail.example.kz").as_deref(),
            Ok("first.last+tag@mail.example.kz")
        );
        assert_eq!(email("ivan@почта.рф").as_deref(), Ok("ivan@почта.рф"));
        for bad in BAD_EMAILS {
            assert!(email(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn passwords_need_eight_to_128_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn phones_become_e164_from_kazakh_and_russian_domestic_forms() {
        for raw in [
            "+7 701 123-45-67",
            "8 701 123 45 67",
            "8 (701) 123-45-67",
            "7 701 1234567",
            "77011234567",
            "701 123 45 67",
            "7011234567",
        ] {
            assert_eq!(phone(raw).as_deref(), Ok("+77011234567"), "{raw}");
        }
        assert_eq!(phone("8 916 123-45-67").as_deref(), Ok("+79161234567"));
        assert_eq!(phone("+44 20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(phone("+1 (202) 555-0123").as_deref(), Ok("+12025550123"));
    }

    #[test]
    fn phones_that_cannot_be_placed_are_refused() {
        for bad in [
            "",
            "12ab567",
            "123",
            "+123",
            "+0 701 123 45 67",
            "1234567",
            "12345678901",
            "0701234567",
            "+7 701 123 45 67 89 01 23",
            "++77011234567",
        ] {
            assert!(phone(bad).is_err(), "{bad} should be refused");
        }
    }
}
