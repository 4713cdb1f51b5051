/*!
Hash kinds and the fixed-width key every other module works on.

A Pwned Passwords hash is either SHA-1 (160 bits, 40 hex digits) or NTLM
(MD4 of the UTF-16LE password, 128 bits, 32 hex digits). Internally a hash is
a [`Key`]: the hash read as one big-endian unsigned number, held in three
64-bit limbs, least significant first. Comparing keys therefore orders them
exactly like the hex text of the dump, and the index can take "the top `b`
bits" or "the low `s` bits" of a key with shifts instead of byte juggling.

This module also owns hex decoding and encoding (hot paths for `build` and
`check`) and the plaintext hash functions used for plaintext inputs.
*/

use std::fmt;
use std::str::FromStr;

/// Which hash function a corpus, an index or a query list uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// SHA-1 over the UTF-8 bytes of the password: 20 bytes, 40 hex digits.
    Sha1,
    /// NT hash, MD4 over the UTF-16LE bytes of the password: 16 bytes, 32 hex digits.
    Ntlm,
}

impl HashKind {
    /// Number of bytes in a hash of this kind.
    pub const fn byte_len(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Ntlm => 16,
        }
    }

    /// Number of hex digits in a hash of this kind.
    pub const fn hex_len(self) -> usize {
        self.byte_len() * 2
    }

    /// Number of bits in a hash of this kind.
    pub const fn bits(self) -> u32 {
        self.byte_len() as u32 * 8
    }

    /// The kind whose hex length is `len`, if any.
    pub fn from_hex_len(len: usize) -> Option<HashKind> {
        match len {
            40 => Some(HashKind::Sha1),
            32 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// Short lower-case name used on the command line and in `info`.
    pub const fn name(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Ntlm => "ntlm",
        }
    }

    /// Code stored in the index header.
    pub const fn code(self) -> u8 {
        match self {
            HashKind::Sha1 => 1,
            HashKind::Ntlm => 2,
        }
    }

    /// Inverse of [`HashKind::code`].
    pub fn from_code(code: u8) -> Option<HashKind> {
        match code {
            1 => Some(HashKind::Sha1),
            2 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// Hashes a plaintext password the way the corpus of this kind does.
    pub fn hash_plaintext(self, password: &[u8]) -> Key {
        match self {
            HashKind::Sha1 => {
                use sha1::Digest;
                let digest = sha1::Sha1::digest(password);
                Key::from_bytes(self, &digest)
            }
            HashKind::Ntlm => {
                use md4::Digest;
                // NTLM is defined over UTF-16LE; invalid UTF-8 is replaced by
                // U+FFFD, which is what Windows would store for such input.
                let text = String::from_utf8_lossy(password);
                let utf16: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
                let digest = md4::Md4::digest(&utf16);
                Key::from_bytes(self, &digest)
            }
        }
    }
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Ok(HashKind::Sha1),
            "ntlm" | "nt" => Ok(HashKind::Ntlm),
            _ => Err(format!("unknown hash kind {s:?}: expected sha1 or ntlm")),
        }
    }
}

/// A hash as a big-endian number in three 64-bit limbs, least significant first.
///
/// For NTLM the top limb is always zero. Ordering is numeric, which is the
/// same as the order of the upper-case hex text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key {
    // Field order matters for the derived `Ord`: most significant first.
    hi: u64,
    mid: u64,
    lo: u64,
}

impl Key {
    /// Builds a key from raw hash bytes; `bytes.len()` must be `kind.byte_len()`.
    pub fn from_bytes(kind: HashKind, bytes: &[u8]) -> Key {
        debug_assert_eq!(bytes.len(), kind.byte_len());
        let n = bytes.len();
        let lo = u64::from_be_bytes(bytes[n - 8..n].try_into().unwrap());
        let mid = u64::from_be_bytes(bytes[n - 16..n - 8].try_into().unwrap());
        let hi = match kind {
            HashKind::Sha1 => u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as u64,
            HashKind::Ntlm => 0,
        };
        Key { hi, mid, lo }
    }

    /// Builds a key from its limbs (most significant first).
    pub const fn from_limbs(hi: u64, mid: u64, lo: u64) -> Key {
        Key { hi, mid, lo }
    }

    /// The limbs, most significant first.
    pub const fn limbs(&self) -> (u64, u64, u64) {
        (self.hi, self.mid, self.lo)
    }

    /// The raw hash bytes (first `kind.byte_len()` bytes of the array are used).
    pub fn to_bytes(&self, kind: HashKind) -> [u8; 20] {
        let mut out = [0u8; 20];
        match kind {
            HashKind::Sha1 => {
                out[0..4].copy_from_slice(&(self.hi as u32).to_be_bytes());
                out[4..12].copy_from_slice(&self.mid.to_be_bytes());
                out[12..20].copy_from_slice(&self.lo.to_be_bytes());
            }
            HashKind::Ntlm => {
                out[0..8].copy_from_slice(&self.mid.to_be_bytes());
                out[8..16].copy_from_slice(&self.lo.to_be_bytes());
            }
        }
        out
    }

    /// The most significant 64 bits of a `kind` hash.
    #[inline]
    pub fn top64(&self, kind: HashKind) -> u64 {
        match kind {
            HashKind::Sha1 => (self.hi << 32) | (self.mid >> 32),
            HashKind::Ntlm => self.mid,
        }
    }

    /// The top `bits` bits (0..=64) of a `kind` hash, as a number.
    #[inline]
    pub fn top_bits(&self, kind: HashKind, bits: u32) -> u64 {
        if bits == 0 {
            0
        } else {
            self.top64(kind) >> (64 - bits)
        }
    }

    /// The low `bits` bits of the key, split into the 64-bit chunks the
    /// record layout stores: `[bits 0..64, bits 64..128, bits 128..]`.
    /// Chunks beyond `bits` are zero.
    #[inline]
    pub fn low_chunks(&self, bits: u32) -> [u64; 3] {
        [
            self.lo & mask(bits.min(64)),
            self.mid & mask(bits.saturating_sub(64).min(64)),
            self.hi & mask(bits.saturating_sub(128).min(64)),
        ]
    }

    /// Rebuilds a key from its top bits (`prefix`, `prefix_bits` wide) and
    /// its low chunks (`suffix_bits` wide). `prefix_bits + suffix_bits` must
    /// equal `kind.bits()`.
    pub fn from_parts(prefix: u64, suffix: [u64; 3], suffix_bits: u32) -> Key {
        let mut key = Key {
            hi: suffix[2],
            mid: suffix[1],
            lo: suffix[0],
        };
        if prefix != 0 {
            // Place the prefix right above the suffix bits.
            let s = suffix_bits;
            let p = prefix as u128;
            match s {
                0..=63 => {
                    let v = p << s;
                    key.lo |= v as u64;
                    key.mid |= (v >> 64) as u64;
                }
                64..=127 => {
                    let v = p << (s - 64);
                    key.mid |= v as u64;
                    key.hi |= (v >> 64) as u64;
                }
                _ => key.hi |= prefix << (s - 128),
            }
        }
        key
    }

    /// 64 bits used to pick the filter block (the least significant limb).
    #[inline]
    pub fn filter_block_bits(&self) -> u64 {
        self.lo
    }

    /// 64 bits used to pick the bits inside a filter block (the middle limb).
    #[inline]
    pub fn filter_probe_bits(&self) -> u64 {
        self.mid
    }

    /// Writes the upper-case hex of a `kind` hash into `out` (which must be
    /// `kind.hex_len()` bytes long).
    #[inline]
    pub fn write_hex(&self, kind: HashKind, out: &mut [u8]) {
        let bytes = self.to_bytes(kind);
        for (i, b) in bytes[..kind.byte_len()].iter().enumerate() {
            let pair = HEX_PAIRS[*b as usize];
            out[2 * i] = pair[0];
            out[2 * i + 1] = pair[1];
        }
    }

    /// The upper-case hex of a `kind` hash.
    pub fn to_hex(&self, kind: HashKind) -> String {
        let mut buf = vec![0u8; kind.hex_len()];
        self.write_hex(kind, &mut buf);
        String::from_utf8(buf).expect("hex is ASCII")
    }
}

/// A mask of the low `bits` bits (0..=64).
#[inline]
pub const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Hex digit value per ASCII byte; 0xFF for anything that is not a hex digit.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Upper-case hex pair per byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789ABCDEF";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [digits[i >> 4], digits[i & 15]];
        i += 1;
    }
    t
};

/// Decodes up to 16 hex digits into a number; `None` if any is not hex.
/// Table-driven: one lookup per digit and a single validity test at the end.
#[inline]
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    let mut invalid = 0u8;
    for &d in digits {
        let v = HEX_VALUE[d as usize];
        invalid |= v;
        value = (value << 4) | (v & 15) as u64;
    }
    if invalid & 0x80 != 0 {
        None
    } else {
        Some(value)
    }
}

/// Parses exactly `kind.hex_len()` hex digits (either case) into a key.
#[inline]
pub fn parse_hex_key(kind: HashKind, hex: &[u8]) -> Option<Key> {
    if hex.len() != kind.hex_len() {
        return None;
    }
    match kind {
        HashKind::Sha1 => Some(Key {
            hi: hex_u64(&hex[0..8])?,
            mid: hex_u64(&hex[8..24])?,
            lo: hex_u64(&hex[24..40])?,
        }),
        HashKind::Ntlm => Some(Key {
            hi: 0,
            mid: hex_u64(&hex[0..16])?,
            lo: hex_u64(&hex[16..32])?,
        }),
    }
}

/// True when every byte is a hex digit.
pub fn is_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| HEX_VALUE[b as usize] != 0xFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors_from_formats_md() {
        let cases = [
            (
                "",
                "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
                "31D6CFE0D16AE931B73C59D7E0C089C0",
            ),
            (
                "password",
                "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8",
                "8846F7EAEE8FB117AD06BDD830B7586C",
            ),
            (
                "P@ssw0rd",
                "21BD12DC183F740EE76F27B78EB39C8AD972A757",
                "E19CCF75EE54E06B06A5907AF13CEF42",
            ),
        ];
        for (pw, sha1, ntlm) in cases {
            assert_eq!(
                HashKind::Sha1
                    .hash_plaintext(pw.as_bytes())
                    .to_hex(HashKind::Sha1),
                sha1
            );
            assert_eq!(
                HashKind::Ntlm
                    .hash_plaintext(pw.as_bytes())
                    .to_hex(HashKind::Ntlm),
                ntlm
            );
        }
    }

    #[test]
    fn hex_round_trip_and_case() {
        let hex = "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8";
        let key = parse_hex_key(HashKind::Sha1, hex.as_bytes()).unwrap();
        assert_eq!(key.to_hex(HashKind::Sha1), hex.to_ascii_uppercase());
        let bytes = key.to_bytes(HashKind::Sha1);
        assert_eq!(Key::from_bytes(HashKind::Sha1, &bytes), key);
        let nt = parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586C").unwrap();
        assert_eq!(
            nt.to_hex(HashKind::Ntlm),
            "8846F7EAEE8FB117AD06BDD830B7586C"
        );
    }

    #[test]
    fn hex_rejects_bad_digits_and_lengths() {
        assert!(
            parse_hex_key(HashKind::Sha1, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FDG").is_none()
        );
        assert!(
            parse_hex_key(HashKind::Sha1, b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD").is_none()
        );
        assert!(parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586 ").is_none());
        assert!(parse_hex_key(HashKind::Ntlm, b"8846F7EAEE8FB117AD06BDD830B7586\xff").is_none());
    }

    #[test]
    fn key_order_matches_hex_order() {
        let a = parse_hex_key(HashKind::Sha1, b"0000000000000000000000000000000000000001").unwrap();
        let b = parse_hex_key(HashKind::Sha1, b"0000000100000000000000000000000000000000").unwrap();
        let c = parse_hex_key(HashKind::Sha1, b"FFFFFFFF00000000000000000000000000000000").unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn split_and_rebuild_at_every_width() {
        for kind in [HashKind::Sha1, HashKind::Ntlm] {
            let key = kind.hash_plaintext(b"split me");
            for prefix_bits in 0..=40u32 {
                let suffix_bits = kind.bits() - prefix_bits;
                let prefix = key.top_bits(kind, prefix_bits);
                let chunks = key.low_chunks(suffix_bits);
                assert_eq!(
                    Key::from_parts(prefix, chunks, suffix_bits),
                    key,
                    "{kind} {prefix_bits}"
                );
            }
        }
    }
}
