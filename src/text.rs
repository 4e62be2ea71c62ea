//! Counted nouns in messages, so that every one reads "1 projection" and "2 projections".

/// `n` and `noun`, with an `s` unless `n` is 1: `count(1, "instance")` is "1 instance".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(super::count(1, "projection"), "1 projection");
        assert_eq!(super::count(0, "projection"), "0 projections");
        assert_eq!(super::count(12, "work-item"), "12 work-items");
    }
}
