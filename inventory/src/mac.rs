//! Ethernet MAC addresses, written `52:54:00:12:34:56`.

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address. Parses `aa:bb:cc:dd:ee:ff`, `aa-bb-…` and
/// `aabbccddeeff` (any case); always displays lower-case with colons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

/// A string that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address (expected six hex bytes such as 52:54:00:12:34:56)")]
pub struct BadMac(pub String);

impl FromStr for Mac {
    type Err = BadMac;

    fn from_str(s: &str) -> Result<Self, BadMac> {
        let hex: String = s.trim().chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
        let bad = || BadMac(s.to_string());
        if hex.len() != 12 || !hex.is_ascii() {
            return Err(bad());
        }
        // Separators, when present, must sit between bytes.
        let seps: Vec<usize> = s.trim().char_indices().filter(|(_, c)| matches!(c, ':' | '-')).map(|(i, _)| i).collect();
        if !seps.is_empty() && seps != [2, 5, 8, 11, 14] {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl Mac {
    /// Why this cannot be a network card's own address (broadcast, all
    /// zeros, or multicast), or `None` when it can.
    pub fn not_unicast(&self) -> Option<&'static str> {
        match self.0 {
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] => Some("the broadcast address"),
            [0, 0, 0, 0, 0, 0] => Some("all zeros"),
            [first, ..] if first & 1 == 1 => Some("a multicast address"),
            _ => None,
        }
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unicast_addresses_name_a_card() {
        for (m, why) in [("ff:ff:ff:ff:ff:ff", Some("the broadcast address")), ("00:00:00:00:00:00", Some("all zeros")), ("01:00:5e:00:00:01", Some("a multicast address")), ("52:54:00:12:34:56", None)] {
            assert_eq!(m.parse::<Mac>().unwrap().not_unicast(), why, "{m}");
        }
    }

    #[test]
    fn parses_the_usual_spellings() {
        let want = Mac([0x52, 0x54, 0, 0x12, 0x34, 0xab]);
        for s in ["52:54:00:12:34:ab", "52-54-00-12-34-AB", "5254001234ab", " 52:54:00:12:34:AB "] {
            assert_eq!(s.parse::<Mac>().unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "52:54:00:12:34:ab");
        for s in ["", "52:54:00:12:34", "52:54:00:12:34:ab:cd", "5254:0012:34ab", "zz:54:00:12:34:ab", "52:54:00:12:34:éé"] {
            assert!(s.parse::<Mac>().is_err(), "{s}");
        }
    }
}
