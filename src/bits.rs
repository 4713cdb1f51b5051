/*!
Bit-level packing: writing fields of 1..=64 bits into a byte stream and reading
them back from any bit position.

Every packed section of the index (records, bucket sizes, count overflow) uses
the same convention: bits are numbered from the least significant bit of byte
0 upwards (little-endian bit order), and a field of `n` bits at bit position
`p` holds its least significant bit at `p`. Each packed section ends with
[`TAIL_PADDING`] zero bytes so that a reader can always load 16 bytes at the
byte holding a field's first bit, without a special case for the last field.
*/

use std::io::{self, Write};

/// Zero bytes appended to every packed section (see the module doc).
pub const TAIL_PADDING: usize = 16;

/// Length in bytes of a packed section holding `bits` bits, tail padding included.
pub const fn packed_len(bits: u64) -> u64 {
    bits.div_ceil(8) + TAIL_PADDING as u64
}

/// Reads the `n`-bit field (1..=64) at bit position `pos`, or `None` when the
/// 16-byte window it needs runs past the end of `data` (a corrupt or truncated
/// section; well-formed sections always have the tail padding).
#[inline]
pub fn read_bits(data: &[u8], pos: u64, n: u32) -> Option<u64> {
    debug_assert!((1..=64).contains(&n));
    let byte = (pos >> 3) as usize;
    let window: [u8; 16] = data.get(byte..byte.checked_add(16)?)?.try_into().ok()?;
    let value = (u128::from_le_bytes(window) >> (pos & 7)) as u64;
    Some(if n == 64 {
        value
    } else {
        value & ((1u64 << n) - 1)
    })
}

/// Streams bit fields to a writer, buffering whole 64-bit words.
pub struct BitSink<W: Write> {
    out: W,
    buf: Vec<u8>,
    acc: u128,
    acc_bits: u32,
    bits_written: u64,
}

impl<W: Write> BitSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        BitSink {
            out,
            buf: Vec::with_capacity(1 << 20),
            acc: 0,
            acc_bits: 0,
            bits_written: 0,
        }
    }

    /// Appends the low `n` bits (0..=64) of `value`; higher bits must be zero.
    #[inline]
    pub fn push(&mut self, value: u64, n: u32) -> io::Result<()> {
        debug_assert!(n <= 64);
        debug_assert!(n == 64 || value >> n == 0, "value wider than field");
        if n == 0 {
            return Ok(());
        }
        self.acc |= (value as u128) << self.acc_bits;
        self.acc_bits += n;
        self.bits_written += n as u64;
        if self.acc_bits >= 64 {
            self.buf.extend_from_slice(&(self.acc as u64).to_le_bytes());
            self.acc >>= 64;
            self.acc_bits -= 64;
            if self.buf.len() >= 1 << 20 {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// Appends `n` zero bits, any number of them.
    pub fn push_zeros(&mut self, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let step = n.min(64) as u32;
            self.push(0, step)?;
            n -= step as u64;
        }
        Ok(())
    }

    /// Number of bits pushed so far.
    pub fn bits_written(&self) -> u64 {
        self.bits_written
    }

    /// Flushes the last partial byte and the tail padding; returns the writer
    /// and the number of bytes this sink produced.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let partial_bytes = self.acc_bits.div_ceil(8) as usize;
        self.buf
            .extend_from_slice(&self.acc.to_le_bytes()[..partial_bytes]);
        self.buf.extend_from_slice(&[0u8; TAIL_PADDING]);
        self.out.write_all(&self.buf)?;
        Ok((self.out, packed_len(self.bits_written)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_at_every_width_and_offset() {
        let mut sink = BitSink::new(Vec::new());
        let mut expected = Vec::new();
        let mut pos = 0u64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..3 {
            for n in 1..=64u32 {
                x = x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ round;
                let v = if n == 64 { x } else { x & ((1 << n) - 1) };
                sink.push(v, n).unwrap();
                expected.push((pos, n, v));
                pos += n as u64;
            }
        }
        sink.push_zeros(200).unwrap();
        let (data, len) = sink.finish().unwrap();
        assert_eq!(data.len() as u64, len);
        assert_eq!(len, packed_len(pos + 200));
        for (p, n, v) in expected {
            assert_eq!(read_bits(&data, p, n), Some(v), "pos {p} width {n}");
        }
        assert_eq!(read_bits(&data, pos + 100, 64), Some(0));
    }

    #[test]
    fn reads_past_the_end_are_refused() {
        let data = vec![0xFFu8; 20];
        assert_eq!(read_bits(&data, 0, 64), Some(u64::MAX));
        assert_eq!(read_bits(&data, 4 * 8, 8), Some(0xFF));
        assert_eq!(read_bits(&data, 5 * 8, 8), None);
        assert_eq!(read_bits(&data, u64::MAX - 7, 8), None);
    }
}
