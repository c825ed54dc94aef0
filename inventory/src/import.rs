//! Bulk creation of hosts from CSV.
//!
//! The header names the columns, in any order: `mac` (required; a host
//! with several NICs has one row, its MACs separated by `;` or spaces),
//! `hostname`, `uuid`, `ip`, `groups` (separated by `;` or spaces),
//! `secureon`. Rows whose hostname or first MAC matches a known host update
//! it. The whole file is checked first, every bad row reported in one pass
//! (a MAC or hostname twice in the file is one), then applied in one
//! transaction: one bad row and nothing changes.

use std::io::Read;

use crate::error::{CsvProblem, Error, Result};
use crate::host::{check_group, check_hostname, normalise_uuid, HostSpec};
use crate::registry::{ImportReport, Inventory};

const COLUMNS: [&str; 6] = ["mac", "hostname", "uuid", "ip", "groups", "secureon"];

/// At most this many rows per import; a fleet is imported site by site.
pub const MAX_ROWS: usize = 100_000;

/// Parses CSV into host descriptions, with the line each came from.
pub fn parse(input: impl Read) -> Result<Vec<(u64, HostSpec)>> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let csv_err = |e: csv::Error| Error::Csv { line: e.position().map_or(0, |p| p.line()), message: e.to_string() };
    let headers: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(|h| h.to_ascii_lowercase()).collect();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(Error::Csv { line: 1, message: format!("unknown column {h:?} (known: {})", COLUMNS.join(", ")) });
        }
    }
    if !headers.iter().any(|h| h == "mac") {
        return Err(Error::Csv { line: 1, message: "the header has no `mac` column".into() });
    }
    let mut out = Vec::new();
    let mut problems = Vec::new();
    // Where each MAC and (case-folded) hostname was first seen.
    let mut mac_lines = std::collections::HashMap::new();
    let mut name_lines = std::collections::HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if out.len() >= MAX_ROWS {
            return Err(Error::Csv { line, message: format!("more than {MAX_ROWS} rows; split the file") });
        }
        let mut problem = |column: &str, message: String| problems.push(CsvProblem { line, column: Some(column.to_string()), message });
        let mut spec = HostSpec::default();
        for (h, v) in headers.iter().zip(rec.iter()) {
            if v.is_empty() {
                continue;
            }
            let words = || v.split(|c: char| c == ';' || c.is_whitespace()).filter(|w| !w.is_empty());
            match h.as_str() {
                "mac" => {
                    for w in words() {
                        match w.parse::<crate::mac::Mac>() {
                            Ok(m) => match m.not_unicast() {
                                Some(why) => problem(h, format!("{m} is {why}")),
                                None => match mac_lines.insert(m, line) {
                                    Some(first) => problem(h, format!("{m} is also on line {first}: one row per host, its MACs separated by ';'")),
                                    None => spec.macs.push(m),
                                },
                            },
                            Err(e) => problem(h, e.to_string()),
                        }
                    }
                }
                "hostname" => match check_hostname(v) {
                    Ok(()) => match name_lines.insert(v.to_ascii_lowercase(), line) {
                        Some(first) => problem(h, format!("{v:?} is also on line {first}: one row per host, its MACs separated by ';'")),
                        None => spec.hostname = Some(v.to_string()),
                    },
                    Err(e) => problem(h, e.to_string()),
                },
                "uuid" => match normalise_uuid(v) {
                    Ok(u) => spec.uuid = Some(u),
                    Err(e) => problem(h, e.to_string()),
                },
                "ip" => match v.parse() {
                    Ok(ip) => spec.ip = Some(ip),
                    Err(_) => problem(h, format!("{v:?} is not an IPv4 address")),
                },
                "groups" => {
                    for w in words() {
                        match check_group(w) {
                            Ok(()) => spec.groups.push(w.to_string()),
                            Err(e) => problem(h, e.to_string()),
                        }
                    }
                }
                "secureon" => match v.parse() {
                    Ok(p) => spec.secureon = Some(p),
                    Err(e) => problem(h, format!("secureon: {e}")),
                },
                _ => unreachable!("columns checked above"),
            }
        }
        if spec.macs.is_empty() && !problems.iter().any(|p| p.line == line) {
            problems.push(CsvProblem { line, column: Some("mac".into()), message: "no MAC address".into() });
        }
        out.push((line, spec));
    }
    if !problems.is_empty() {
        return Err(Error::CsvRows(problems));
    }
    Ok(out)
}

impl Inventory {
    /// Imports hosts from CSV (see the module doc): all rows or none.
    pub async fn import_csv(&self, input: impl Read) -> Result<ImportReport> {
        self.import_csv_into(input, None, &|_| true).await
    }

    /// As [`Self::import_csv`], new hosts going into `entity` (default the
    /// root) and existing ones changed only where `may_change(their entity)`.
    pub async fn import_csv_into(&self, input: impl Read, entity: Option<i64>, may_change: &(dyn Fn(i64) -> bool + Sync)) -> Result<ImportReport> {
        let mut rows = parse(input)?;
        for (_, spec) in &mut rows {
            spec.entity_id = entity;
        }
        self.upsert_all(rows, may_change).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_errors_name_their_line() {
        let ok = "hostname,mac,groups\nlab-a,52:54:00:00:00:01,lab;bios\nlab-b,52:54:00:00:00:02 52:54:00:00:00:03,\n";
        let rows = parse(ok.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1.groups, ["lab", "bios"]);
        assert_eq!(rows[1].1.macs.len(), 2);
        assert_eq!(rows[1].0, 3);

        let bad = "hostname,mac\nlab-a,52:54:00:00:00:01\nlab-b,not-a-mac\nLAB-A,52:54:00:00:00:04\nlab-d,52:54:00:00:00:01\nlab e,ff:ff:ff:ff:ff:ff\n";
        let err = parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("5 bad row(s), nothing was imported"), "{err}");
        for expected in [
            "line 3, column mac: ",
            "line 4, column hostname: \"LAB-A\" is also on line 2",
            "line 5, column mac: 52:54:00:00:00:01 is also on line 2",
            "line 6, column hostname: ",
            "line 6, column mac: ff:ff:ff:ff:ff:ff is the broadcast address",
        ] {
            assert!(err.contains(expected), "{expected:?} in {err}");
        }
        let err = parse("name,mac\n".as_bytes()).unwrap_err().to_string();
        assert!(err.contains("unknown column \"name\""), "{err}");
    }
}
