//! Sorted, non-overlapping byte ranges.

/// `(start, len)` pairs, sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// Adds `[start, start+len)`, merging with neighbours. Appending in
    /// ascending order (the common case) is O(1).
    pub fn add(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.0.last_mut() {
            if start >= last.0 {
                if start <= last.0 + last.1 {
                    last.1 = last.1.max(start + len - last.0);
                    return;
                }
                self.0.push((start, len));
                return;
            }
        } else {
            self.0.push((start, len));
            return;
        }
        self.0.push((start, len));
        self.normalise();
    }

    fn normalise(&mut self) {
        self.0.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(s, l) in &self.0 {
            match out.last_mut() {
                Some(last) if s <= last.0 + last.1 => last.1 = last.1.max(s + l - last.0),
                _ => out.push((s, l)),
            }
        }
        self.0 = out;
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|r| r.1).sum()
    }

    /// The ranges.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    /// Adds every range of `other`.
    pub fn extend(&mut self, other: &Ranges) {
        self.0.extend_from_slice(&other.0);
        self.normalise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_any_order() {
        let mut r = Ranges::default();
        r.add(10, 5);
        r.add(15, 5);
        r.add(0, 3);
        r.add(2, 2);
        r.add(100, 1);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 4), (10, 10), (100, 1)]);
        assert_eq!(r.total(), 15);
    }
}
