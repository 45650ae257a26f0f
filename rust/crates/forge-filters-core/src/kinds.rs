//! The kinds a scanner reports: chosen by name, held as one flag per kind.

/// One flag per name of `names`, set for each name in `chosen`; an unknown name is the error.
pub(crate) fn enabled_by_name<const N: usize, S: AsRef<str>>(
    names: &[&str; N],
    chosen: &[S],
) -> Result<[bool; N], String> {
    let mut enabled = [false; N];
    for k in chosen {
        let i = names
            .iter()
            .position(|n| *n == k.as_ref())
            .ok_or_else(|| k.as_ref().to_string())?;
        enabled[i] = true;
    }
    Ok(enabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_chosen_kinds_and_refuses_unknown_ones() {
        assert_eq!(
            enabled_by_name(&["A", "B", "C"], &["C", "A"]),
            Ok([true, false, true])
        );
        assert_eq!(
            enabled_by_name(&["A", "B"], &["A", "Z"]),
            Err("Z".to_string())
        );
    }
}
