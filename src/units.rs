//! Parsing and printing byte sizes and rates.

/// Parses `512`, `64K`, `20M`, `1.5G`, `1GiB`, `100MB` (all binary multiples).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size (try 64K, 20M, 1G)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().trim_end_matches("/s").trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use K, M, G or T)")),
    };
    Ok((n * mult as f64) as u64)
}

/// `1.5 GiB` style.
pub fn human(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("64K").unwrap(), 65536);
        assert_eq!(parse_bytes("20MiB").unwrap(), 20 << 20);
        assert_eq!(parse_bytes("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("10M/s").unwrap(), 10 << 20);
        assert!(parse_bytes("x").is_err());
        assert!(parse_bytes("5Q").is_err());
    }
}
