//! Schedules as their consumers parse them: K3s's etcd snapshot cron expression and Proxmox's
//! calendar events (vzdump jobs).
//!
//! K3s schedules etcd snapshots with `robfig/cron/v3` built by `cron.New()` without options
//! (`pkg/etcd/etcd.go`), so the standard parser applies: five fields (minute, hour, day of month,
//! month, day of week) or a descriptor (`@daily`, `@every 6h`), optionally after `CRON_TZ=ZONE` or
//! `TZ=ZONE`. K3s ignores the error `AddFunc` returns, so a schedule it cannot parse means no
//! snapshot ever, silently: labform refuses it instead.
//!
//! Proxmox parses vzdump schedules with `proxmox-time`'s calendar events (modelled on systemd's):
//! a keyword (`daily`, `weekly`, ...), or `[WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]]`
//! with at least one part, each value a number, a range `a..b`, a repetition `a/n` or `*/n`, or a
//! comma list, and an optional `UTC` at the end.

use serde::Serialize;

/// Why a schedule is refused: a short reason people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError(pub String);

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, ScheduleError> {
    Err(ScheduleError(reason.into()))
}

/// One field of a cron expression: its name, bounds and the names it accepts.
struct CronField {
    name: &'static str,
    minimum: u32,
    maximum: u32,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAY_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const CRON_FIELDS: [CronField; 5] = [
    CronField {
        name: "minute",
        minimum: 0,
        maximum: 59,
        names: &[],
    },
    CronField {
        name: "hour",
        minimum: 0,
        maximum: 23,
        names: &[],
    },
    CronField {
        name: "day of month",
        minimum: 1,
        maximum: 31,
        names: &[],
    },
    CronField {
        name: "month",
        minimum: 1,
        maximum: 12,
        names: MONTH_NAMES,
    },
    CronField {
        name: "day of week",
        minimum: 0,
        maximum: 6,
        names: WEEKDAY_NAMES,
    },
];

/// Checks `text` as K3s's etcd snapshot schedule (robfig/cron's standard parser).
pub fn check_cron(text: &str) -> Result<(), ScheduleError> {
    parse_cron(text).map(|_| ())
}

/// A cron schedule as robfig/cron reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cron {
    /// `@yearly`, `@daily`, ... (the name without `@`; `annually` and `midnight` as their twins).
    Descriptor(&'static str),
    /// `@every DURATION`: seconds between runs (robfig rounds down to whole seconds, at least 1).
    Every(u64),
    /// Five fields, each its values and whether it was written as `*` or `?` (no step).
    Fields([(Vec<u32>, bool); 5]),
}

/// `text` parsed as robfig/cron's standard parser does, with its time zone (`CRON_TZ=` or `TZ=`).
fn parse_cron(text: &str) -> Result<(Option<&str>, Cron), ScheduleError> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return refuse("the schedule is empty");
    }
    let mut time_zone = None;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(after) = rest.strip_prefix(prefix) {
            let Some((zone, expression)) = after.split_once(' ') else {
                return refuse(format!(
                    "`{prefix}` must be followed by a time zone and the schedule"
                ));
            };
            if zone.is_empty() {
                return refuse("the time zone is empty");
            }
            time_zone = Some(zone);
            rest = expression.trim();
            break;
        }
    }
    if let Some(descriptor) = rest.strip_prefix('@') {
        let cron = match descriptor {
            "yearly" | "annually" => Cron::Descriptor("yearly"),
            "monthly" => Cron::Descriptor("monthly"),
            "weekly" => Cron::Descriptor("weekly"),
            "daily" | "midnight" => Cron::Descriptor("daily"),
            "hourly" => Cron::Descriptor("hourly"),
            _ => match descriptor.strip_prefix("every ") {
                Some(duration) => {
                    let nanoseconds = go_duration_nanoseconds(duration.trim())?;
                    Cron::Every(((nanoseconds / 1e9) as u64).max(1))
                }
                None => return refuse(format!("unknown descriptor `@{descriptor}`")),
            },
        };
        return Ok((time_zone, cron));
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return refuse(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        ));
    }
    let mut parsed: [(Vec<u32>, bool); 5] = Default::default();
    for ((text, field), slot) in fields.iter().zip(CRON_FIELDS.iter()).zip(parsed.iter_mut()) {
        for part in text.split(',') {
            let (values, star) = cron_range(part, field)?;
            slot.0.extend(values);
            slot.1 |= star;
        }
        slot.0.sort_unstable();
        slot.0.dedup();
    }
    Ok((time_zone, Cron::Fields(parsed)))
}

/// When a systemd timer runs for a cron schedule (kubeadm's etcd snapshots): `OnCalendar=`
/// events, any of which fires it, or a fixed interval (`@every`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemdTimer {
    /// `OnCalendar=` lines (cron fires when the day of month or the day of week matches if both
    /// are restricted: two events then).
    Calendar(Vec<String>),
    /// Seconds between runs (`OnUnitActiveSec=`, and as long after boot).
    EverySeconds(u64),
}

/// A Kubernetes CronJob's schedule (`spec.schedule`, `spec.timeZone`): the cron expression
/// without its time zone, which Kubernetes refuses in the schedule ("cannot use TZ or CRON_TZ in
/// schedule, use timeZone field instead") and takes in `timeZone` (Kubernetes 1.27 on). Its
/// controller parses the expression with robfig/cron's standard parser, as K3s does, so the
/// lab's expression is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronJobSchedule {
    /// `spec.schedule`.
    pub schedule: String,
    /// `spec.timeZone`, when the lab's schedule names one (`CRON_TZ=` or `TZ=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// The Kubernetes CronJob schedule that runs when robfig/cron runs `text` (Talos's etcd
/// snapshots).
pub fn cron_job_schedule(text: &str) -> Result<CronJobSchedule, ScheduleError> {
    let (time_zone, _) = parse_cron(text)?;
    let mut expression = text.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some((_, rest)) = expression
            .strip_prefix(prefix)
            .and_then(|after| after.split_once(' '))
        {
            expression = rest.trim();
            break;
        }
    }
    Ok(CronJobSchedule {
        schedule: expression.to_owned(),
        time_zone: time_zone.map(str::to_owned),
    })
}

/// The systemd timer that runs when robfig/cron runs `text` (what K3s's own scheduler would do).
pub fn systemd_timer(text: &str) -> Result<SystemdTimer, ScheduleError> {
    let (time_zone, cron) = parse_cron(text)?;
    let zone = time_zone.map(|zone| format!(" {zone}")).unwrap_or_default();
    let events = match cron {
        Cron::Every(seconds) => return Ok(SystemdTimer::EverySeconds(seconds)),
        Cron::Descriptor(name) => vec![match name {
            "yearly" => "*-01-01 00:00:00".to_owned(),
            "monthly" => "*-*-01 00:00:00".to_owned(),
            "weekly" => "Sun *-*-* 00:00:00".to_owned(),
            "daily" => "*-*-* 00:00:00".to_owned(),
            _ => "*-*-* *:00:00".to_owned(),
        }],
        Cron::Fields([minutes, hours, days, months, weekdays]) => {
            let list = |(values, star): &(Vec<u32>, bool), field: &CronField| {
                if *star || values.len() as u32 == field.maximum - field.minimum + 1 {
                    "*".to_owned()
                } else {
                    values
                        .iter()
                        .map(|value| format!("{value:02}"))
                        .collect::<Vec<_>>()
                        .join(",")
                }
            };
            let time = format!(
                "{}:{}:00",
                list(&hours, &CRON_FIELDS[1]),
                list(&minutes, &CRON_FIELDS[0])
            );
            let date = |days: &str| format!("*-{}-{days}", list(&months, &CRON_FIELDS[3]));
            let day_list = list(&days, &CRON_FIELDS[2]);
            let weekday_list = if list(&weekdays, &CRON_FIELDS[4]) == "*" {
                None
            } else {
                const SYSTEMD_WEEKDAYS: [&str; 7] =
                    ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
                Some(
                    weekdays
                        .0
                        .iter()
                        .map(|day| SYSTEMD_WEEKDAYS[*day as usize])
                        .collect::<Vec<_>>()
                        .join(","),
                )
            };
            if !days.1 && !weekdays.1 {
                // robfig: both day fields restricted (neither written as `*`) means either
                // matches: every day when one of them holds every value, else two events.
                match weekday_list {
                    Some(weekdays_text) if day_list != "*" => vec![
                        format!("{} {time}", date(&day_list)),
                        format!("{weekdays_text} {} {time}", date("*")),
                    ],
                    _ => vec![format!("{} {time}", date("*"))],
                }
            } else {
                let weekdays_text = weekday_list.map(|text| text + " ").unwrap_or_default();
                vec![format!("{weekdays_text}{} {time}", date(&day_list))]
            }
        }
    };
    Ok(SystemdTimer::Calendar(
        events
            .into_iter()
            .map(|event| format!("{event}{zone}"))
            .collect(),
    ))
}

/// The values `part` (one item of a field's comma list) selects, and whether it is `*` or `?`
/// without a step (robfig's star bit, which decides how the two day fields combine).
fn cron_range(part: &str, field: &CronField) -> Result<(Vec<u32>, bool), ScheduleError> {
    let (range, step) = match part.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (part, None),
    };
    let (start, end) = if range == "*" || range == "?" {
        (field.minimum, field.maximum)
    } else {
        match range.split_once('-') {
            Some((low, high)) => (cron_value(low, field)?, cron_value(high, field)?),
            None => {
                let value = cron_value(range, field)?;
                (value, if step.is_some() { field.maximum } else { value })
            }
        }
    };
    if start < field.minimum {
        return refuse(format!(
            "{} {start} is below the minimum {}",
            field.name, field.minimum
        ));
    }
    if end > field.maximum {
        return refuse(format!(
            "{} {end} is above the maximum {}",
            field.name, field.maximum
        ));
    }
    if start > end {
        return refuse(format!(
            "{} range `{range}` starts after it ends",
            field.name
        ));
    }
    let step = match step {
        None => 1,
        Some(step) => match step.parse::<u32>() {
            Ok(0) | Err(_) => {
                return refuse(format!(
                    "the step `/{step}` of the {} must be a positive number",
                    field.name
                ));
            }
            Ok(step) => step,
        },
    };
    let star = (range == "*" || range == "?") && step == 1;
    Ok(((start..=end).step_by(step as usize).collect(), star))
}

fn cron_value(text: &str, field: &CronField) -> Result<u32, ScheduleError> {
    let lower = text.to_ascii_lowercase();
    if let Some(index) = field.names.iter().position(|name| *name == lower) {
        let offset = if field.names == MONTH_NAMES { 1 } else { 0 };
        return Ok(index as u32 + offset);
    }
    text.parse::<u32>().or_else(|_| {
        refuse(format!(
            "`{text}` is not a {} (a number{})",
            field.name,
            if field.names.is_empty() {
                String::new()
            } else {
                format!(" or one of {}", field.names.join(", "))
            }
        ))
    })
}

/// A Go duration as `time.ParseDuration` reads it (`1h30m`, `90s`, `1.5h`), in nanoseconds.
fn go_duration_nanoseconds(text: &str) -> Result<f64, ScheduleError> {
    let invalid = || {
        refuse(format!(
            "`{text}` is not a duration (write e.g. `6h` or `1h30m`)"
        ))
    };
    if text.is_empty() {
        return invalid();
    }
    let mut rest = text;
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_length = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let Ok(number) = rest[..number_length].parse::<f64>() else {
            return invalid();
        };
        rest = &rest[number_length..];
        let unit = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ]
        .into_iter()
        .filter(|(unit, _)| rest.starts_with(unit))
        .max_by_key(|(unit, _)| unit.len());
        match unit {
            Some((unit, scale)) => {
                total += number * scale;
                rest = &rest[unit.len()..];
            }
            None => return invalid(),
        }
    }
    Ok(total)
}

/// Checks `text` as a Proxmox calendar event (vzdump job schedules).
pub fn check_calendar_event(text: &str) -> Result<(), ScheduleError> {
    let mut rest = text.trim();
    if let Some(before) = rest.strip_suffix("UTC") {
        rest = before.trim_end_matches(' ');
    }
    if rest.is_empty() {
        return refuse("the schedule is empty");
    }
    if matches!(
        rest,
        "minutely"
            | "hourly"
            | "daily"
            | "weekly"
            | "monthly"
            | "yearly"
            | "annually"
            | "quarterly"
            | "semiannually"
            | "semi-annually"
    ) {
        return Ok(());
    }
    let mut parts: Vec<&str> = rest.split_whitespace().collect();
    if parts
        .first()
        .is_some_and(|first| first.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        let days = parts.remove(0);
        for range in days.split(',') {
            let (from, to) = match range.split_once("..") {
                Some((from, to)) => (from, Some(to)),
                None => (range, None),
            };
            let mut numbers = Vec::new();
            for day in std::iter::once(from).chain(to) {
                match weekday(day) {
                    Some(number) => numbers.push(number),
                    None => {
                        return refuse(format!(
                            "`{day}` is not a weekday or keyword (mon..sun, daily, weekly, monthly, ...)"
                        ));
                    }
                }
            }
            if let [start, end] = numbers[..]
                && start > end
            {
                return refuse(format!("the weekday range `{range}` starts after it ends"));
            }
        }
    }
    if let Some(first) = parts.first()
        && first.contains('-')
        && !first.contains(':')
    {
        let date = parts.remove(0);
        let pieces: Vec<&str> = date.split('-').collect();
        let limits: &[(&str, u32, u32)] = match pieces.len() {
            3 => &[("year", 0, 2199), ("month", 1, 12), ("day", 1, 31)],
            2 => &[("month", 1, 12), ("day", 1, 31)],
            _ => return refuse(format!("`{date}` is not a date (`[YEAR-]MONTH-DAY`)")),
        };
        for (piece, (name, minimum, maximum)) in pieces.iter().zip(limits) {
            calendar_list(piece, name, *minimum, *maximum)?;
        }
    }
    if let Some(time) = parts.first() {
        let time = *time;
        parts.remove(0);
        let pieces: Vec<&str> = time.split(':').collect();
        let limits: &[(&str, u32, u32)] = match pieces.len() {
            1 => &[("minute", 0, 59)],
            2 => &[("hour", 0, 23), ("minute", 0, 59)],
            3 => &[("hour", 0, 23), ("minute", 0, 59), ("second", 0, 59)],
            _ => {
                return refuse(format!("`{time}` is not a time (`[HOUR:]MINUTE[:SECOND]`)"));
            }
        };
        for (piece, (name, minimum, maximum)) in pieces.iter().zip(limits) {
            calendar_list(piece, name, *minimum, *maximum)?;
        }
    }
    if let Some(extra) = parts.first() {
        return refuse(format!(
            "unexpected `{extra}` (write `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE`)"
        ));
    }
    Ok(())
}

fn weekday(text: &str) -> Option<u32> {
    const DAYS: [(&str, &str); 7] = [
        ("mon", "monday"),
        ("tue", "tuesday"),
        ("wed", "wednesday"),
        ("thu", "thursday"),
        ("fri", "friday"),
        ("sat", "saturday"),
        ("sun", "sunday"),
    ];
    DAYS.iter()
        .position(|(short, long)| text == *short || text == *long)
        .map(|index| index as u32)
}

/// One component of a calendar event's date or time: `*`, `*/n`, or a comma list of values,
/// ranges `a..b` and repetitions `a/n`, `a..b/n`.
fn calendar_list(text: &str, name: &str, minimum: u32, maximum: u32) -> Result<(), ScheduleError> {
    if let Some(after) = text.strip_prefix('*') {
        return match after.strip_prefix('/') {
            Some(step) => calendar_value(step, name, 0, maximum).map(|_| ()),
            None if after.is_empty() => Ok(()),
            None => refuse(format!("unexpected `{after}` after `*` in the {name}")),
        };
    }
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let (start, end) = match range.split_once("..") {
            Some((start, end)) => (
                calendar_value(start, name, minimum, maximum)?,
                Some(calendar_value(end, name, minimum, maximum)?),
            ),
            None => (calendar_value(range, name, minimum, maximum)?, None),
        };
        if let Some(end) = end
            && start > end
        {
            return refuse(format!("the {name} range `{range}` starts after it ends"));
        }
        if let Some(step) = step {
            calendar_value(step, name, 0, maximum)?;
        }
    }
    Ok(())
}

fn calendar_value(
    text: &str,
    name: &str,
    minimum: u32,
    maximum: u32,
) -> Result<u32, ScheduleError> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return refuse(format!("`{text}` is not a {name} (a number)"));
    }
    let value: u32 = text
        .parse()
        .or_else(|_| refuse(format!("{name} `{text}` is too large")))?;
    if value < minimum || value > maximum {
        return refuse(format!("{name} {value} is outside {minimum} to {maximum}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions_as_k3s_parses_them() {
        for valid in [
            "0 */12 * * *",
            "*/5 * * * *",
            "30 2 * * sun",
            "0 3 1-15/2 jan-jun MON-FRI",
            "0 0 ? * *",
            "@daily",
            "@every 6h30m",
            "CRON_TZ=Europe/Berlin 0 3 * * *",
            "TZ=UTC @hourly",
        ] {
            assert_eq!(check_cron(valid), Ok(()), "{valid}");
        }
        for (invalid, reason) in [
            ("", "the schedule is empty"),
            ("daily", "expected 5 fields"),
            ("0 2 * * * *", "expected 5 fields"),
            ("60 * * * *", "minute 60 is above the maximum 59"),
            ("0 0 0 * *", "day of month 0 is below the minimum 1"),
            ("0 0 * * 7", "day of week 7 is above the maximum 6"),
            ("0 0 * * mon-sun", "starts after it ends"),
            ("*/0 * * * *", "must be a positive number"),
            ("@fortnightly", "unknown descriptor"),
            ("@every soon", "is not a duration"),
            ("x * * * *", "is not a minute"),
        ] {
            let error = check_cron(invalid).expect_err(invalid);
            assert!(error.0.contains(reason), "{invalid}: {error}");
        }
    }

    #[test]
    fn cron_schedules_as_systemd_timers() {
        let calendar = |text: &str| match systemd_timer(text).unwrap() {
            SystemdTimer::Calendar(events) => events,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(calendar("0 */6 * * *"), ["*-*-* 00,06,12,18:00:00"]);
        assert_eq!(calendar("*/15 2 * * *"), ["*-*-* 02:00,15,30,45:00"]);
        assert_eq!(calendar("30 2 * * sun"), ["Sun *-*-* 02:30:00"]);
        assert_eq!(
            calendar("0 3 1-15/7 jan-jun MON-FRI"),
            [
                "*-01,02,03,04,05,06-01,08,15 03:00:00",
                "Mon,Tue,Wed,Thu,Fri *-01,02,03,04,05,06-* 03:00:00"
            ]
        );
        assert_eq!(
            calendar("0 3 * * 1-5"),
            ["Mon,Tue,Wed,Thu,Fri *-*-* 03:00:00"]
        );
        assert_eq!(calendar("0 0 ? * *"), ["*-*-* 00:00:00"]);
        assert_eq!(calendar("0 0 1-31 * mon"), ["*-*-* 00:00:00"]);
        assert_eq!(calendar("0 0 1 * 0-6"), ["*-*-* 00:00:00"]);
        assert_eq!(
            calendar("0 0 1 * */2"),
            ["*-*-01 00:00:00", "Sun,Tue,Thu,Sat *-*-* 00:00:00"]
        );
        assert_eq!(calendar("@daily"), ["*-*-* 00:00:00"]);
        assert_eq!(calendar("@weekly"), ["Sun *-*-* 00:00:00"]);
        assert_eq!(
            calendar("CRON_TZ=Europe/Berlin 0 3 * * *"),
            ["*-*-* 03:00:00 Europe/Berlin"]
        );
        assert_eq!(
            systemd_timer("@every 6h30m"),
            Ok(SystemdTimer::EverySeconds(23_400))
        );
        assert_eq!(
            systemd_timer("@every 10ms"),
            Ok(SystemdTimer::EverySeconds(1))
        );
    }

    #[test]
    fn calendar_events_as_proxmox_parses_them() {
        for valid in [
            "daily",
            "sat 02:00",
            "mon..fri 21:00",
            "mon,wed,fri 8..17:00/15",
            "*/15",
            "02:30",
            "2026-*-01 03:00",
            "*-1/3-01 00:00:00",
            "sun 04:00 UTC",
            "semi-annually",
            "saturday",
        ] {
            assert_eq!(check_calendar_event(valid), Ok(()), "{valid}");
        }
        for (invalid, reason) in [
            ("", "the schedule is empty"),
            ("every day", "`every` is not a weekday"),
            ("sat 25:00", "hour 25 is outside 0 to 23"),
            ("0 2 * * *", "unexpected `2`"),
            ("fri..mon 01:00", "starts after it ends"),
            ("12:61", "minute 61 is outside"),
            ("13-01", "month 13 is outside"),
        ] {
            let error = check_calendar_event(invalid).expect_err(invalid);
            assert!(error.0.contains(reason), "{invalid}: {error}");
        }
    }

    #[test]
    fn cron_job_schedules_keep_the_expression_and_move_the_time_zone() {
        let schedule = |text: &str| cron_job_schedule(text).expect(text);
        assert_eq!(
            schedule("0 3 * * *"),
            CronJobSchedule {
                schedule: "0 3 * * *".to_owned(),
                time_zone: None
            }
        );
        assert_eq!(
            schedule("CRON_TZ=Europe/Berlin 0 3 * * *"),
            CronJobSchedule {
                schedule: "0 3 * * *".to_owned(),
                time_zone: Some("Europe/Berlin".to_owned())
            }
        );
        assert_eq!(
            schedule(" TZ=UTC  @every 6h"),
            CronJobSchedule {
                schedule: "@every 6h".to_owned(),
                time_zone: Some("UTC".to_owned())
            }
        );
        assert!(cron_job_schedule("0 3 * *").is_err());
    }
}
