//! 256-bit integers as five limbs of fewer than 64 bits: 52 for the IFMA lanes, 62 for the
//! divsteps inverter.

/// Five limbs of `bits` bits (52 to 63) of a little-endian 256-bit integer.
pub(crate) const fn split(words: [u64; 4], bits: usize) -> [u64; 5] {
    let mask = (1u64 << bits) - 1;
    let mut limbs = [0; 5];
    let mut i = 0;
    while i < 5 {
        let (word, shift) = (bits * i / 64, bits * i % 64);
        let mut limb = words[word] >> shift;
        if shift + bits > 64 && word + 1 < 4 {
            limb |= words[word + 1] << (64 - shift);
        }
        limbs[i] = limb & mask;
        i += 1;
    }
    limbs
}

/// The 256-bit integer of five limbs of `bits` bits, each below `2^bits`.
pub(crate) fn join(limbs: &[u64], bits: usize) -> [u64; 4] {
    let mut words = [0; 4];
    for (i, &limb) in limbs.iter().enumerate() {
        let (word, shift) = (bits * i / 64, bits * i % 64);
        words[word] |= limb << shift;
        if shift + bits > 64 && word + 1 < 4 {
            words[word + 1] |= limb >> (64 - shift);
        }
    }
    words
}

/// `x⁻¹ mod 2^64` for odd `x`: Newton's iteration doubles the correct low bits, 1 to 64.
pub(crate) const fn inverse_mod_word(x: u64) -> u64 {
    let mut inverse = 1u64;
    let mut i = 0;
    while i < 6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(x.wrapping_mul(inverse)));
        i += 1;
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limbs_round_trip_and_cross_words() {
        let words = [0x0123_4567_89ab_cdef, u64::MAX, 1 << 63, 0x3fff_ffff_ffff_ffff];
        for bits in [52, 62] {
            assert_eq!(join(&split(words, bits), bits), words, "{bits} bits");
        }
        assert_eq!(split([u64::MAX, 0, 0, 0], 52), [(1 << 52) - 1, (1 << 12) - 1, 0, 0, 0]);
        assert_eq!(0x1234_5677u64.wrapping_mul(inverse_mod_word(0x1234_5677)), 1);
    }
}
