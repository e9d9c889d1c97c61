//! The OpenAPI schemas of the values the parsers of `validate` (and
//! `catalog::slug`) accept, for request fields declared with
//! `#[schema(schema_with = ...)]`. Each pattern is an ECMA-262 regex that
//! matches exactly what its parser takes (a fuzzer checks both ways: what
//! the schema allows is accepted, what it forbids is refused), so a
//! generated client validates as the server does.

use utoipa::openapi::{
    schema::{ObjectBuilder, SchemaType, Type},
    Object,
};

/// What `char::is_control` is: Unicode's Cc, C0 and C1.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// What `str::trim` takes away (Unicode's White_Space), spelled out: the
/// regex dialects disagree on `\s` (ECMA's lacks U+0085 and has U+FEFF,
/// Python's follows `str.isspace`), and the fuzzer found the difference.
pub const SPACE: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A pattern of `body` with the spaces `str::trim` removes around it.
pub fn trimmed_around(body: &str) -> String {
    format!("^[{SPACE}]*(?:{body})[{SPACE}]*$")
}

fn string(nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::new(Type::String)
    };
    ObjectBuilder::new().schema_type(ty)
}

/// A pattern for text that is trimmed, then must be at most `max`
/// characters none of which is in `excluded` (a character class's body),
/// and at least one when `required`: JSON Schema's `maxLength` would count
/// the spaces the server trims.
fn trimmed(excluded: &str, required: bool, max: usize) -> String {
    let edge = format!("[^{SPACE}{excluded}]");
    let inner = format!("[^{excluded}]{{0,{}}}", max.saturating_sub(2));
    let text = format!("{edge}(?:{inner}{edge})?");
    if required {
        trimmed_around(&text)
    } else {
        trimmed_around(&format!("(?:{text})?"))
    }
}

/// Text of at most `max` characters after trimming, not blank, no NUL (any
/// text: NUL is refused everywhere).
pub fn line(max: usize, nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(trimmed(r"\x00", true, max)))
        .description(Some(format!(
            "At most {max} characters, surrounding spaces trimmed; not blank"
        )))
        .build()
}

/// Any text that is not blank once trimmed (a token, a login's e-mail).
pub fn nonblank() -> Object {
    string(false)
        .pattern(Some(format!("[^{SPACE}\\x00]")))
        .description(Some("Not blank"))
        .build()
}

/// One of `choices` (alternatives of a regex), or empty for any: a filter
/// as a form's untouched field sends it; surrounding spaces trimmed.
pub fn choice_or_empty(choices: &str) -> Object {
    string(true)
        .pattern(Some(trimmed_around(&format!("(?:{choices})?"))))
        .build()
}

/// As `line`, but blank (or null) means none.
pub fn optional_line(max: usize) -> Object {
    string(true)
        .pattern(Some(trimmed(r"\x00", false, max)))
        .description(Some(format!(
            "At most {max} characters, surrounding spaces trimmed; blank or null for none"
        )))
        .build()
}

fn name_schema(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(trimmed(CONTROL, true, 100)))
        .description(Some(
            "1-100 characters without control characters; surrounding spaces are trimmed",
        ))
        .examples([serde_json::json!("Ann Lee")])
        .build()
}

/// `validate::name`.
pub fn name() -> Object {
    name_schema(false)
}

pub fn name_or_null() -> Object {
    name_schema(true)
}

fn email_schema(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(trimmed_around(&super::EMAIL_PATTERN)))
        .description(Some(
            "An e-mail address that every mail server takes: an ASCII local part \
             (dot-separated words), a domain of 2-5 labels in Latin or Cyrillic letters, \
             digits and hyphens; surrounding spaces are trimmed and case is ignored",
        ))
        .examples([serde_json::json!("ann@example.com")])
        .build()
}

/// `validate::email`.
pub fn email() -> Object {
    email_schema(false)
}

pub fn email_or_null() -> Object {
    email_schema(true)
}

fn phone_pattern() -> String {
    let sep = "[ ().-]*";
    let digit = format!("{sep}[0-9]");
    format!(r"{sep}(\+{sep}[1-9]({digit}){{7,14}}|[78]({digit}){{10}}|[3-9]({digit}){{9}}){sep}")
}

fn phone_schema(nullable: bool) -> Object {
    string(nullable)
        .pattern(Some(format!("^{}$", phone_pattern())))
        .description(Some(
            "E.164 (`+77011234567`); numbers of Kazakhstan and Russia may also be given in \
             their domestic forms (`8 701 123 45 67`, `7 701 ...`, `701 123 45 67`). Spaces, \
             dashes, dots and parentheses are ignored. Stored and answered in E.164.",
        ))
        .examples([serde_json::json!("+77011234567")])
        .build()
}

/// `validate::phone`.
pub fn phone() -> Object {
    phone_schema(false)
}

pub fn phone_or_null() -> Object {
    phone_schema(true)
}

/// An address's phone: blank (or null) means none.
pub fn phone_blank_or_null() -> Object {
    let mut schema = phone_schema(true);
    schema.pattern = Some(format!("^(?:[{SPACE}]*|{})$", phone_pattern()));
    schema.description = Some(
        "Blank or null for none; otherwise as a phone elsewhere: ".to_owned()
            + schema.description.as_deref().unwrap_or_default(),
    );
    schema
}

fn slug_schema(nullable: bool) -> Object {
    // Letters of Kazakh and Russian besides ASCII: JSON Schema's regexes
    // (and the fuzzers and client generators that read them) know no
    // Unicode classes. The server takes lower-case letters of any script.
    let word =
        r"[a-z0-9\u0430-\u044f\u0451\u0456\u0493\u049b\u04a3\u04af\u04b1\u04bb\u04d9\u04e9]+";
    string(nullable)
        .pattern(Some(format!(r"^{word}(-{word})*$")))
        .max_length(Some(100))
        .description(Some(
            "Lower-case letters and digits, words joined by single dashes, at most 100 \
             characters (a category's, store's or product's is made from its name when absent)",
        ))
        .examples([serde_json::json!("summer-sale")])
        .build()
}

/// An address's country: ISO 3166-1 alpha-2, either case.
pub fn country() -> Object {
    string(false)
        .pattern(Some(trimmed_around("[A-Za-z]{2}")))
        .description(Some("ISO 3166-1 alpha-2, either case"))
        .examples([serde_json::json!("KZ")])
        .build()
}

/// The digits Kaspi sent a buyer (`marketplace::completion`).
pub fn kaspi_code_or_null() -> Object {
    string(true)
        .pattern(Some(trimmed_around("[0-9]{1,10}")))
        .description(Some(
            "The code Kaspi sent the buyer; leave it out to have Kaspi send one",
        ))
        .build()
}

/// `catalog::slug::parse`.
pub fn slug_or_null() -> Object {
    slug_schema(true)
}

#[cfg(test)]
mod tests {
    //! The patterns agree with the parsers on the cases the parsers' own
    //! tests name (a regex engine with ECMA's syntax for these patterns).
    use super::*;

    fn pattern(o: Object) -> regex::Regex {
        regex::Regex::new(o.pattern.as_deref().unwrap()).unwrap()
    }

    /// `schema`'s pattern matches exactly the `cases` `parser` takes.
    fn agree<T, E>(schema: Object, parser: impl Fn(&str) -> Result<T, E>, cases: &[&str]) {
        let re = pattern(schema);
        for s in cases {
            assert_eq!(re.is_match(s), parser(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn the_phone_pattern_takes_what_validate_phone_takes() {
        let cases = [
            "+77011234567",
            "8 701 123 45 67",
            "7 (701) 123-45-67",
            "701 123 45 67",
            "+44 20 7946 0958",
            "+1",
            "87011234",
            "+07011234567",
            "",
            "701",
            "+7 701 abc",
            "0701 123 45 67",
            "++77011234567",
            "+7701123456789012",
        ];
        agree(phone(), crate::validate::phone, &cases);
    }

    #[test]
    fn the_email_pattern_takes_what_validate_email_takes() {
        let good = [
            "ann@example.com",
            " Ann@Example.COM ",
            "a.b@c.d.e",
            "ivan@почта.рф",
            "first.last+tag@mail.example.kz",
        ];
        agree(email(), crate::validate::email, &good);
        agree(
            email(),
            crate::validate::email,
            crate::validate::tests::BAD_EMAILS,
        );
    }

    #[test]
    fn the_slug_pattern_takes_slugs_of_kazakh_russian_and_ascii_letters() {
        let cases = [
            "summer-sale",
            "одежда-для-дома",
            "қазақ-тілі",
            "a",
            "a1-b2",
            "",
            "Summer",
            "a--b",
            "-a",
            "a b",
            "a-",
        ];
        agree(slug_or_null(), crate::catalog::slug::parse, &cases);
    }

    #[test]
    fn trimmed_patterns_trim_what_str_trim_trims() {
        let cases = ["\u{85}Ann\u{85}", "\u{3000}Ann", "\u{feff}Ann"];
        agree(name(), crate::validate::name, &cases);
        let blank = "\u{85}\u{2028} \t";
        assert!(!pattern(name()).is_match(blank) && crate::validate::name(blank).is_err());
    }

    #[test]
    fn the_name_pattern_takes_what_validate_name_takes() {
        let cases = ["Ann", " Ann ", "", "   ", "A\u{7}nn", "Ann\u{85}", "Ло"];
        agree(name(), crate::validate::name, &cases);
    }
}
