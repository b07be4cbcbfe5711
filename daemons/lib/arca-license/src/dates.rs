//! Calendar dates of license keys: `YYYY-MM-DD` in keys and on the command line, `May 15, 2018`
//! in the REST API.

use time::{Date, Month};

use crate::LicenseError;

/// Parse a calendar date written exactly `YYYY-MM-DD` (four-digit year, two-digit month and
/// day, an existing day: `2026-02-30` is refused).
pub fn parse_date(text: &str) -> Result<Date, LicenseError> {
    parse_iso(text).ok_or_else(|| LicenseError::InvalidDate {
        text: text.chars().take(40).collect(),
    })
}

pub(crate) fn parse_iso(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let year: i32 = text.get(0..4)?.parse().ok()?;
    let month: u8 = text.get(5..7)?.parse().ok()?;
    let day: u8 = text.get(8..10)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// `YYYY-MM-DD`, as in keys and on the command line.
pub fn format_date_iso(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// `May 15, 2018`: the `validThrough` of the REST API.
pub fn format_date_long(date: Date) -> String {
    format!("{} {}, {}", date.month(), date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn parses_iso_dates_strictly() {
        assert_eq!(parse_date("2018-05-15").unwrap(), date!(2018 - 05 - 15));
        assert_eq!(parse_date("2024-02-29").unwrap(), date!(2024 - 02 - 29));
        for bad in [
            "",
            "2018-5-15",
            "2018-05-15 ",
            " 2018-05-15",
            "18-05-15",
            "2018/05/15",
            "2018-13-01",
            "2018-00-10",
            "2018-05-00",
            "2023-02-29",
            "2026-02-30",
            "+018-05-15",
            "2018-05-1x",
            "2018-05-١٥",
        ] {
            let err = parse_date(bad).unwrap_err();
            assert!(
                err.to_string()
                    .ends_with("expected a calendar date YYYY-MM-DD"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn formats() {
        let d = date!(2018 - 05 - 15);
        assert_eq!(format_date_iso(d), "2018-05-15");
        assert_eq!(format_date_long(d), "May 15, 2018");
        assert_eq!(format_date_long(date!(2030 - 01 - 01)), "January 1, 2030");
        assert_eq!(format_date_iso(date!(0987 - 12 - 31)), "0987-12-31");
        assert_eq!(parse_date(&format_date_iso(d)).unwrap(), d);
    }
}
