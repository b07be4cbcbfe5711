//! Quartz cron expressions (`arca.db.session.cleanup.cron`) translated to systemd calendar
//! events (`OnCalendar=`).
//!
//! Quartz: `sec min hour day-of-month month day-of-week [year]`, e.g. `0 17 * * * ?`.
//! systemd: `[WEEKDAYS] YEAR-MONTH-DAY HOUR:MINUTE:SECOND`, e.g. `*-*-* *:17:00`.
//!
//! Supported in every field: `*`, numbers, lists `a,b`, ranges `a-b` (→ `a..b`; a range that
//! wraps, such as hours `22-2`, becomes a list), steps `*/n` (→ `<first>/n`), `a/n` and
//! `a-b/n` (→ `a..b/n`); `?` in day-of-month or day-of-week (= `*`); month names `JAN`–`DEC`;
//! weekday names `SUN`–`SAT` and Quartz's weekday numbers `1`–`7` (1 = Sunday), written as
//! systemd's `Mon`..`Sun` (wrapping ranges such as `FRI-MON` become lists). Refused, with the
//! field and the reason: `L`, `W`, `#` (last day, nearest weekday, n-th weekday: systemd's
//! calendar has no equivalent), both a day-of-month and a day-of-week restriction (Quartz
//! itself refuses that), anything out of range or unknown.

use std::fmt;

/// Why an expression cannot be translated. Displays as one sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

/// The seven fields of a Quartz expression, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Second,
        Field::Minute,
        Field::Hour,
        Field::DayOfMonth,
        Field::Month,
        Field::DayOfWeek,
        Field::Year,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Second => "seconds",
            Field::Minute => "minutes",
            Field::Hour => "hours",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
            Field::Year => "year",
        }
    }

    /// Smallest and largest value Quartz accepts.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (1, 7),
            Field::Year => (1970, 2099),
        }
    }

    /// Digits of a value in systemd's output (`05`, `2027`).
    fn width(self) -> usize {
        if self == Field::Year { 4 } else { 2 }
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Quartz's order: 1 = SUN … 7 = SAT.
const QUARTZ_DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// systemd's names, Monday first (the order its ranges use).
const SYSTEMD_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Translate Quartz expression `quartz` (6 or 7 fields) to a systemd calendar event.
pub fn translate(quartz: &str) -> Result<String, CronError> {
    let fields: Vec<&str> = quartz.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(CronError(format!(
            "{} fields; a Quartz expression has 6 or 7: seconds minutes hours day-of-month \
             month day-of-week [year]",
            fields.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(7);
    for (field, text) in Field::ALL.iter().zip(&fields) {
        out.push(translate_field(*field, text)?);
    }
    let year = out.get(6).cloned().unwrap_or_else(|| "*".to_string());
    let (dom_text, dow_text) = (fields[3], fields[5]);
    let restricted = |t: &str| t != "*" && t != "?";
    if restricted(dom_text) && restricted(dow_text) {
        return Err(CronError(format!(
            "both day-of-month '{dom_text}' and day-of-week '{dow_text}' are set; as in Quartz, \
             one of them must be '?'"
        )));
    }
    if dom_text == "?" && dow_text == "?" {
        return Err(CronError(
            "'?' in both day-of-month and day-of-week; as in Quartz, only one of them may be '?'"
                .to_string(),
        ));
    }
    let weekdays = if out[5] == "*" {
        String::new()
    } else {
        format!("{} ", out[5])
    };
    Ok(format!(
        "{weekdays}{year}-{}-{} {}:{}:{}",
        out[4], out[3], out[2], out[1], out[0]
    ))
}

fn translate_field(field: Field, text: &str) -> Result<String, CronError> {
    let bad = |why: String| CronError(format!("{} field '{text}': {why}", field.name()));
    let upper = text.to_ascii_uppercase();
    if upper == "?" {
        return match field {
            Field::DayOfMonth | Field::DayOfWeek => Ok("*".to_string()),
            _ => Err(bad(
                "'?' is only allowed in day-of-month and day-of-week".to_string()
            )),
        };
    }
    if let Some(special) = ['#', 'W', 'L'].into_iter().find(|c| upper.contains(*c))
        // A weekday or month name may contain the letter: only bare specials count.
        && !only_names(field, &upper)
    {
        let what = match special {
            'L' => "'L' (last day)",
            'W' => "'W' (nearest weekday)",
            _ => "'#' (n-th weekday of the month)",
        };
        return Err(bad(format!(
            "{what} has no systemd calendar equivalent; use days, ranges, lists or steps"
        )));
    }
    if upper == "*" {
        return Ok("*".to_string());
    }
    let mut parts: Vec<Part> = Vec::new();
    for element in text.split(',') {
        parts.push(parse_element(field, element).map_err(&bad)?);
    }
    if field == Field::DayOfWeek {
        return Ok(weekdays(&parts));
    }
    let rendered: Vec<String> = parts.iter().map(|p| p.render(field)).collect();
    Ok(rendered.join(","))
}

/// Whether every letter run of `upper` is a month or weekday name (so `L`/`W` inside are not
/// Quartz specials, e.g. `JUL`, `WED`).
fn only_names(field: Field, upper: &str) -> bool {
    let names: &[&str] = match field {
        Field::Month => &MONTHS,
        Field::DayOfWeek => &QUARTZ_DAYS,
        _ => return false,
    };
    !upper.contains('#')
        && upper
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .all(|w| names.contains(&w))
}

/// One element of a list, its values within the field's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Value(u32),
    /// `a-b`, `a <= b`
    Range(u32, u32),
    /// `a-b` with `a > b` (Quartz wraps around): the values in order.
    Wrapped(Vec<u32>),
    /// `start[-end]/step`; `end` = the field's maximum when absent.
    Step {
        start: u32,
        end: Option<u32>,
        step: u32,
    },
}

impl Part {
    fn render(&self, field: Field) -> String {
        let w = field.width();
        match self {
            Part::Value(v) => format!("{v:0w$}"),
            Part::Range(a, b) => format!("{a:0w$}..{b:0w$}"),
            Part::Wrapped(values) => values
                .iter()
                .map(|v| format!("{v:0w$}"))
                .collect::<Vec<_>>()
                .join(","),
            Part::Step {
                start,
                end: None,
                step,
            } => format!("{start:0w$}/{step}"),
            Part::Step {
                start,
                end: Some(end),
                step,
            } => format!("{start:0w$}..{end:0w$}/{step}"),
        }
    }

    /// The Quartz values it selects.
    fn values(&self, field: Field) -> Vec<u32> {
        let (_, max) = field.bounds();
        match self {
            Part::Value(v) => vec![*v],
            Part::Range(a, b) => (*a..=*b).collect(),
            Part::Wrapped(values) => values.clone(),
            Part::Step { start, end, step } => (*start..=end.unwrap_or(max))
                .step_by(usize::try_from(*step).unwrap_or(usize::MAX))
                .collect(),
        }
    }
}

fn parse_element(field: Field, element: &str) -> Result<Part, String> {
    if element.is_empty() {
        return Err("an empty list element".to_string());
    }
    let (min, max) = field.bounds();
    let (range, step) = match element.split_once('/') {
        Some((range, step)) => {
            let step = number(step).ok_or_else(|| format!("step '{step}' is not a number"))?;
            if step == 0 || step > max {
                return Err(format!("step {step} is out of range 1-{max}"));
            }
            (range, Some(step))
        }
        None => (element, None),
    };
    if range == "*" || range == "?" {
        if range == "?" {
            return Err("'?' must stand alone".to_string());
        }
        return match step {
            Some(step) => Ok(Part::Step {
                start: min,
                end: None,
                step,
            }),
            None => Err("'*' must stand alone in a list".to_string()),
        };
    }
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (value(field, a)?, Some(value(field, b)?)),
        None => (value(field, range)?, None),
    };
    match (end, step) {
        (None, None) => Ok(Part::Value(start)),
        (None, Some(step)) => Ok(Part::Step {
            start,
            end: None,
            step,
        }),
        (Some(end), None) if start <= end => Ok(Part::Range(start, end)),
        (Some(end), Some(step)) if start <= end => Ok(Part::Step {
            start,
            end: Some(end),
            step,
        }),
        (Some(end), step) => {
            // Quartz wraps around: hours 22-2 = 22,23,0,1,2.
            let values: Vec<u32> = (start..=max).chain(min..=end).collect();
            let step = usize::try_from(step.unwrap_or(1)).unwrap_or(usize::MAX);
            Ok(Part::Wrapped(values.into_iter().step_by(step).collect()))
        }
    }
}

/// Digits only: `u32::from_str` also takes a leading `+`, which Quartz (and the config check,
/// `arcactl config check`) refuse — the generator translated `+0 …` the check rejects.
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A number within the field's bounds, or a month / weekday name.
fn value(field: Field, text: &str) -> Result<u32, String> {
    let (min, max) = field.bounds();
    let names: Option<&[&str]> = match field {
        Field::Month => Some(&MONTHS),
        Field::DayOfWeek => Some(&QUARTZ_DAYS),
        _ => None,
    };
    if let Some(names) = names
        && let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(u32::try_from(i).unwrap_or(0) + 1);
    }
    let v = number(text).ok_or_else(|| match names {
        Some(names) => format!(
            "'{text}' is neither a number {min}-{max} nor one of {}",
            names.join(" ")
        ),
        None => format!("'{text}' is not a number {min}-{max}"),
    })?;
    if !(min..=max).contains(&v) {
        return Err(format!("{v} is out of range {min}-{max}"));
    }
    Ok(v)
}

/// The weekdays `parts` select (Quartz numbers), written the systemd way: Monday first, runs
/// of three or more days as ranges (`Mon..Fri`), the others as a list (`Mon,Wed,Sat,Sun`).
fn weekdays(parts: &[Part]) -> String {
    let mut selected = [false; 7];
    for part in parts {
        for v in part.values(Field::DayOfWeek) {
            // Quartz 1 = Sunday … 7 = Saturday; systemd index 0 = Monday … 6 = Sunday.
            let idx = usize::try_from((v + 5) % 7).unwrap_or(0);
            selected[idx] = true;
        }
    }
    if selected.iter().all(|s| *s) {
        return "*".to_string();
    }
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !selected[i] {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < 7 && selected[j + 1] {
            j += 1;
        }
        if j - i >= 2 {
            out.push(format!("{}..{}", SYSTEMD_DAYS[i], SYSTEMD_DAYS[j]));
        } else {
            out.extend((i..=j).map(|k| SYSTEMD_DAYS[k].to_string()));
        }
        i = j + 1;
    }
    out.join(",")
}

/// Examples for the docs and the tests: (Quartz, systemd `OnCalendar=`).
pub const EXAMPLES: &[(&str, &str)] = &[
    ("0 17 * * * ?", "*-*-* *:17:00"),
    ("0 23 * * * ?", "*-*-* *:23:00"),
    ("0 0 3 * * ?", "*-*-* 03:00:00"),
    ("0 */15 * * * ?", "*-*-* *:00/15:00"),
    ("0 5/20 * * * ?", "*-*-* *:05/20:00"),
    ("0 30 8-18 * * ?", "*-*-* 08..18:30:00"),
    ("0 0 0/6 * * ?", "*-*-* 00/6:00:00"),
    ("0 0 22-2 * * ?", "*-*-* 22,23,00,01,02:00:00"),
    ("0 15 2 ? * MON-FRI", "Mon..Fri *-*-* 02:15:00"),
    ("0 0 4 ? * 1,7", "Sat,Sun *-*-* 04:00:00"),
    ("0 0 4 ? * FRI-MON", "Mon,Fri..Sun *-*-* 04:00:00"),
    ("0 0 1 1,15 * ?", "*-*-01,15 01:00:00"),
    ("0 0 0 1 JAN,JUL ?", "*-01,07-01 00:00:00"),
    ("0 0 12 1 * ? 2027", "2027-*-01 12:00:00"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(quartz: &str) -> String {
        match translate(quartz) {
            Ok(s) => s,
            Err(e) => panic!("{quartz}: {e}"),
        }
    }

    #[test]
    fn numbers_are_digits_only() {
        // Found by the fuzz harness (daemons/dev/arca-fuzz, target cron): a leading '+' was read
        // as a number, so the generator scheduled what the config check refuses.
        assert!(err("+0 0 12 ? * MON").contains("'+0' is not a number"));
        assert!(err("0 0/+5 12 ? * MON").contains("step '+5' is not a number"));
        assert!(err("0 0 12 ? +1 MON").contains("'+1' is neither a number"));
        assert_eq!(ok("0 0/5 12 ? * MON"), ok("00 0/05 12 ? * MON"));
    }

    fn err(quartz: &str) -> String {
        match translate(quartz) {
            Ok(s) => panic!("{quartz} translated to {s}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    /// Every example of docs/session-cleanup.md's table (the integration test checks each
    /// output with `systemd-analyze calendar`).
    #[test]
    fn documented_examples() {
        for (quartz, systemd) in EXAMPLES {
            assert_eq!(ok(quartz), *systemd, "{quartz}");
        }
    }

    #[test]
    fn wildcards_numbers_and_question_marks() {
        assert_eq!(ok("0 17 * * * ?"), "*-*-* *:17:00");
        assert_eq!(ok("0 23 * * * ?"), "*-*-* *:23:00");
        assert_eq!(ok("* * * * * ?"), "*-*-* *:*:*");
        assert_eq!(ok("0 0 3 ? * *"), "*-*-* 03:00:00");
        assert_eq!(ok("5 4 3 2 1 ?"), "*-01-02 03:04:05");
        assert_eq!(ok("0 0 0 1 1 ? 2030"), "2030-01-01 00:00:00");
        // extra blanks are fine
        assert_eq!(ok("  0   17 *  * * ?  "), "*-*-* *:17:00");
    }

    #[test]
    fn lists_ranges_and_steps() {
        assert_eq!(ok("0 0,30 * * * ?"), "*-*-* *:00,30:00");
        assert_eq!(ok("0 0 9-17 * * ?"), "*-*-* 09..17:00:00");
        assert_eq!(ok("0 */15 * * * ?"), "*-*-* *:00/15:00");
        assert_eq!(ok("0 5/10 * * * ?"), "*-*-* *:05/10:00");
        assert_eq!(ok("0 0 8-18/2 * * ?"), "*-*-* 08..18/2:00:00");
        assert_eq!(ok("*/20 * * * * ?"), "*-*-* *:*:00/20");
        assert_eq!(ok("0 0 0 */5 * ?"), "*-*-01/5 00:00:00");
        assert_eq!(ok("0 0 0 1 */3 ?"), "*-01/3-01 00:00:00");
        assert_eq!(ok("0 0 0 1 1 ? 2027/2"), "2027/2-01-01 00:00:00");
        assert_eq!(ok("0 0 0 1 1 ? 2027-2030"), "2027..2030-01-01 00:00:00");
        assert_eq!(ok("0 0 1,3-5,9/6 * * ?"), "*-*-* 01,03..05,09/6:00:00");
        // a wrapping range: Quartz counts on past the maximum
        assert_eq!(ok("0 0 22-2 * * ?"), "*-*-* 22,23,00,01,02:00:00");
        assert_eq!(ok("0 0 22-3/2 * * ?"), "*-*-* 22,00,02:00:00");
    }

    #[test]
    fn month_names() {
        assert_eq!(ok("0 0 0 1 JAN ?"), "*-01-01 00:00:00");
        assert_eq!(ok("0 0 0 1 jan-mar ?"), "*-01..03-01 00:00:00");
        assert_eq!(ok("0 0 0 1 JUL,DEC ?"), "*-07,12-01 00:00:00");
        assert_eq!(ok("0 0 0 1 NOV-FEB ?"), "*-11,12,01,02-01 00:00:00");
    }

    #[test]
    fn weekdays_by_name_and_number() {
        assert_eq!(ok("0 0 12 ? * MON"), "Mon *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * 2"), "Mon *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * 1"), "Sun *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * 7"), "Sat *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * MON-FRI"), "Mon..Fri *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * 2-6"), "Mon..Fri *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * SAT,SUN"), "Sat,Sun *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * 1,7"), "Sat,Sun *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * FRI-MON"), "Mon,Fri..Sun *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * SUN-SAT"), "*-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * */2"), "Tue,Thu,Sat,Sun *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * MON,WED,FRI"), "Mon,Wed,Fri *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 ? * tue-thu"), "Tue..Thu *-*-* 12:00:00");
        assert_eq!(ok("0 0 12 * * WED"), "Wed *-*-* 12:00:00");
    }

    #[test]
    fn quartz_specials_are_refused_with_the_field() {
        let e = err("0 0 12 L * ?");
        assert!(
            e.contains("day-of-month field 'L'") && e.contains("last day"),
            "{e}"
        );
        let e = err("0 0 12 15W * ?");
        assert!(
            e.contains("day-of-month field '15W'") && e.contains("nearest weekday"),
            "{e}"
        );
        let e = err("0 0 12 LW * ?");
        assert!(e.contains("day-of-month"), "{e}");
        let e = err("0 0 12 ? * 6#3");
        assert!(
            e.contains("day-of-week field '6#3'") && e.contains("n-th"),
            "{e}"
        );
        let e = err("0 0 12 ? * 6L");
        assert!(e.contains("day-of-week field '6L'"), "{e}");
        let e = err("0 0 12 ? * L");
        assert!(e.contains("day-of-week field 'L'"), "{e}");
        let e = err("0 0 12 ? * FRI#2");
        assert!(e.contains("'#'"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        for (quartz, needle) in [
            (
                "0 60 * * * ?",
                "minutes field '60': 60 is out of range 0-59",
            ),
            ("60 0 * * * ?", "seconds field '60'"),
            ("0 0 24 * * ?", "hours field '24': 24 is out of range 0-23"),
            ("0 0 0 0 * ?", "day-of-month field '0'"),
            ("0 0 0 32 * ?", "day-of-month field '32'"),
            ("0 0 0 1 13 ?", "month field '13'"),
            (
                "0 0 0 1 FOO ?",
                "'FOO' is neither a number 1-12 nor one of JAN",
            ),
            (
                "0 0 0 ? * 0",
                "day-of-week field '0': 0 is out of range 1-7",
            ),
            ("0 0 0 ? * 8", "day-of-week field '8'"),
            ("0 0 0 ? * Monday", "'Monday' is neither"),
            ("0 0 0 1 1 ? 1969", "year field '1969'"),
            ("0 */0 * * * ?", "step 0 is out of range"),
            ("0 */x * * * ?", "step 'x' is not a number"),
            ("0 1,,2 * * * ?", "an empty list element"),
            ("0 *,5 * * * ?", "'*' must stand alone"),
            (
                "? 0 * * * ?",
                "'?' is only allowed in day-of-month and day-of-week",
            ),
            (
                "0 0 12 1 * MON",
                "both day-of-month '1' and day-of-week 'MON'",
            ),
            ("0 0 12 ? * ?", "only one of them may be '?'"),
            ("0 17 * * *", "5 fields"),
            ("0 17 * * * ? 2030 x", "8 fields"),
            ("0 abc * * * ?", "'abc' is not a number 0-59"),
            ("0 5-x * * * ?", "'x' is not a number"),
        ] {
            let e = err(quartz);
            assert!(e.contains(needle), "{quartz}: {e}");
        }
    }
}
