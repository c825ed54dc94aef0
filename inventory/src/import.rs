//! Bulk creation of hosts from CSV.
//!
//! The header names the columns, in any order: `mac` (required; several
//! separated by `;` or spaces), `hostname`, `uuid`, `ip`, `groups` (`;` or
//! space separated), `secureon`. Rows whose hostname or first MAC matches a
//! known host update it. The whole file is checked and applied in one
//! transaction: one bad row and nothing changes.

use std::io::Read;

use crate::error::{Error, Result};
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
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        if out.len() >= MAX_ROWS {
            return Err(Error::Csv { line, message: format!("more than {MAX_ROWS} rows; split the file") });
        }
        let fail = |message: String| Error::Csv { line, message };
        let mut spec = HostSpec::default();
        for (h, v) in headers.iter().zip(rec.iter()) {
            if v.is_empty() {
                continue;
            }
            let words = || v.split(|c: char| c == ';' || c.is_whitespace()).filter(|w| !w.is_empty());
            match h.as_str() {
                "mac" => {
                    for w in words() {
                        spec.macs.push(w.parse().map_err(|e: crate::mac::BadMac| fail(e.to_string()))?);
                    }
                }
                "hostname" => {
                    check_hostname(v).map_err(|e| fail(e.to_string()))?;
                    spec.hostname = Some(v.to_string());
                }
                "uuid" => spec.uuid = Some(normalise_uuid(v).map_err(|e| fail(e.to_string()))?),
                "ip" => spec.ip = Some(v.parse().map_err(|_| fail(format!("{v:?} is not an IPv4 address")))?),
                "groups" => {
                    for w in words() {
                        check_group(w).map_err(|e| fail(e.to_string()))?;
                        spec.groups.push(w.to_string());
                    }
                }
                "secureon" => spec.secureon = Some(v.parse().map_err(|e: crate::mac::BadMac| fail(format!("secureon: {e}")))?),
                _ => unreachable!("columns checked above"),
            }
        }
        if spec.macs.is_empty() {
            return Err(fail("no MAC address".into()));
        }
        out.push((line, spec));
    }
    Ok(out)
}

impl Inventory {
    /// Imports hosts from CSV (see the module doc): all rows or none.
    pub async fn import_csv(&self, input: impl Read) -> Result<ImportReport> {
        let rows = parse(input)?;
        self.upsert_all(rows).await
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

        let bad = "hostname,mac\nlab-a,52:54:00:00:00:01\nlab-b,not-a-mac\n";
        let err = parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("not-a-mac"), "{err}");
        let err = parse("name,mac\n".as_bytes()).unwrap_err().to_string();
        assert!(err.contains("unknown column \"name\""), "{err}");
    }
}
