//! Product codes and SKUs: upper-case ASCII words joined by dashes
//! (`CTEE-S-RED`), transliterated from any script so that warehouse labels,
//! marketplaces and barcodes can carry them.

use deunicode::deunicode;

const MAX_CODE: usize = 24;
pub const MAX_SKU: usize = 64;

/// Upper-case ASCII letters and digits, other runs collapsed into one dash.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in deunicode(text).chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_uppercase());
        } else {
            dash = true;
        }
    }
    out
}

/// A code made from a product name: its normalized words, cut at a word
/// boundary to fit.
pub fn code_from_name(name: &str) -> String {
    let mut code = String::new();
    for word in normalize(name).split('-') {
        let extra = if code.is_empty() { 0 } else { 1 };
        if code.len() + extra + word.len() > MAX_CODE {
            break;
        }
        if extra == 1 {
            code.push('-');
        }
        code.push_str(word);
    }
    if code.is_empty() {
        normalize(name).chars().take(MAX_CODE).collect()
    } else {
        code
    }
}

/// A code given by a client: must already be in code form.
pub fn parse_code(raw: &str) -> Result<String, &'static str> {
    let code = raw.trim();
    if code.is_empty() || code.len() > MAX_CODE {
        return Err("must be 1 to 24 characters");
    }
    if normalize(code) != code {
        return Err("must be upper-case ASCII letters and digits joined by single dashes");
    }
    Ok(code.to_owned())
}

/// The SKU of a variant: the product code, then each value in attribute order.
pub fn sku(code: &str, values: &[&str]) -> String {
    let mut sku = code.to_owned();
    for v in values {
        let part = normalize(v);
        if !part.is_empty() {
            sku.push('-');
            sku.push_str(&part);
        }
    }
    sku
}

/// Every combination of the given value lists, in order (the first list
/// varies slowest). No lists gives one empty combination: a product without
/// options still has one variant.
pub fn combinations<'a>(lists: &[&'a [String]]) -> Vec<Vec<&'a str>> {
    lists.iter().fold(vec![Vec::new()], |acc, values| {
        acc.iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.as_str());
                    next
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_upper_case_ascii() {
        assert_eq!(sku("CTEE", &["S", "Red"]), "CTEE-S-RED");
        assert_eq!(sku("CTEE", &["Light blue", "XL"]), "CTEE-LIGHT-BLUE-XL");
        assert_eq!(sku("CTEE", &["Красный"]), "CTEE-KRASNYI");
        assert_eq!(sku("BOOK", &[]), "BOOK");
    }

    #[test]
    fn codes_come_from_names_or_are_checked() {
        assert_eq!(code_from_name("Classic cotton tee"), "CLASSIC-COTTON-TEE");
        assert_eq!(
            code_from_name("An extraordinarily long product name here"),
            "AN-EXTRAORDINARILY-LONG"
        );
        assert_eq!(code_from_name("Футболка"), "FUTBOLKA");
        assert_eq!(parse_code("CTEE-2"), Ok("CTEE-2".into()));
        for bad in ["ctee", "C--T", "-C", "", "C T"] {
            assert!(parse_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn combinations_are_the_cartesian_product() {
        let sizes = vec!["S".to_string(), "M".to_string(), "L".to_string()];
        let colors = vec!["Red".to_string(), "Blue".to_string(), "Black".to_string()];
        let all = combinations(&[&sizes, &colors]);
        assert_eq!(all.len(), 9);
        assert_eq!(all[0], ["S", "Red"]);
        assert_eq!(all[8], ["L", "Black"]);
        assert_eq!(combinations(&[]), vec![Vec::<&str>::new()]);
    }
}
