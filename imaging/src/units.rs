//! Byte sizes and rates as people write and read them (`--limit-rate 8M`,
//! `1.50 GiB`), shared by the CLI, the agent and the benchmarks.

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

/// `512 B`, `1.50 GiB`: binary prefixes, two decimals.
pub fn human(bytes: u64) -> String {
    const PREFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut n = bytes as f64 / 1024.0;
    let mut i = 0;
    while n >= 1024.0 && i < PREFIXES.len() - 1 {
        n /= 1024.0;
        i += 1;
    }
    format!("{n:.2} {}B", PREFIXES[i])
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
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.50 KiB");
        assert_eq!(human(3 << 29), "1.50 GiB");
    }
}
