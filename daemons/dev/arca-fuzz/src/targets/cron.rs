//! Target `cron`: `arca.db.session.cleanup.cron` (a Quartz expression from system.properties)
//! through the validation of `arca-config` and the translation to a systemd `OnCalendar=` of
//! the boot-time generator (`arca_session_cleanup::calendar::translate`), which must never fail
//! the boot. Property: no panic; a translated expression passed the config check.

use std::path::Path;

use arca_config::SystemProperties;
use arca_session_cleanup::calendar::translate;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::mutate::mutate;
use crate::runner::Target;

const TOKENS: &[&str] = &[
    "*",
    "*",
    "?",
    "0",
    "5",
    "7",
    "12",
    "31",
    "59",
    "60",
    "0/5",
    "5/0",
    "*/15",
    "1-5",
    "5-1",
    "0-59/0",
    "10-2/3",
    "MON-FRI",
    "FRI-MON",
    "SUN",
    "sat",
    "L",
    "LW",
    "15W",
    "1#3",
    "6L",
    "JAN",
    "DEC-FEB",
    "jan,jul",
    "1,2,3",
    ",",
    "1,",
    "-",
    "/",
    "1-",
    "-1",
    "2027",
    "1970",
    "2099",
    "2100",
    "4294967296",
    "99999999999999999999",
    "0/4294967295",
    "1-4294967295",
    "WED#2",
    "JUL",
    "JULW",
    "é",
];

/// Values that fit each field: seconds, minutes, hours, day of month, month, day of week, year.
const FITTING: [&[&str]; 7] = [
    &["0", "5", "30", "*/15", "0-30/10", "0,30", "*"],
    &["0", "5", "30", "*/15", "0-30/10", "0,30", "*"],
    &["0", "12", "23", "*", "9-17", "*/6", "22-2"],
    &["1", "15", "*", "1-10", "?", "?"],
    &["*", "1", "JAN", "JAN-MAR", "12", "*/3", "NOV-FEB"],
    &["?", "?", "MON-FRI", "SUN", "*", "1-5", "SAT-MON"],
    &["2027", "*", "2026-2030", "2026/2"],
];

pub struct Cron;

impl Target for Cron {
    fn name(&self) -> &'static str {
        "cron"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let fields = *[6, 6, 7, 5, 8].choose(rng).unwrap_or(&6);
        // Mostly values that fit the field, sometimes any token.
        let mut parts: Vec<String> = (0..fields)
            .map(|i| {
                let fitting = FITTING.get(i).copied().unwrap_or(TOKENS);
                let pool = if rng.gen_bool(0.8) { fitting } else { TOKENS };
                pool.choose(rng).copied().unwrap_or("*").to_string()
            })
            .collect();
        // Quartz needs one of day-of-month and day-of-week to be '?'
        if parts.len() > 5 && rng.gen_bool(0.6) {
            let i = if rng.gen_bool(0.5) { 3 } else { 5 };
            parts[i] = "?".to_string();
        }
        let mut data = parts.join(" ").into_bytes();
        if rng.gen_bool(0.4) {
            mutate(rng, &mut data, TOKENS, b"0 0 12 ? * MON-FRI", 4, 1024);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        let translated = translate(&text);
        let line = format!(
            "arca.db.session.cleanup.cron={}",
            text.replace(['\n', '\r', '\\'], " ")
        );
        let checked = SystemProperties::parse(&line, Path::new("/h/etc/system.properties"))
            .ok()
            .map(|p| p.session_cleanup_cron());
        if let (Ok(calendar), Some(Err(e))) = (&translated, &checked) {
            return Err(format!(
                "translated to {calendar:?} what the config check refuses: {e}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_expressions_are_translated_and_refused() {
        let (mut translated, mut refused) = (0, 0);
        for i in 0..2000 {
            let input = Cron.generate(&mut iteration_rng(1, "cron", i));
            match translate(&String::from_utf8_lossy(&input)) {
                Ok(_) => translated += 1,
                Err(_) => refused += 1,
            }
        }
        assert!(
            translated > 100 && refused > 100,
            "{translated} translated, {refused} refused"
        );
    }
}
