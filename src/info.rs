/*!
What `pwdex info` reports about an index: sizes per record, the filter's
cost and expected false-positive rate, and the build record.
*/

use serde::Serialize;

use crate::error::Result;
use crate::filter;
use crate::format::SectionId;
use crate::index::Index;

/// A summary of an index, printable as text or JSON.
#[derive(Clone, Debug, Serialize)]
pub struct IndexInfo {
    pub path: String,
    pub kind: String,
    pub format_version: u32,
    pub records: u64,
    pub file_bytes: u64,
    pub filter_bytes: u64,
    /// Bytes per record without the filter section.
    pub bytes_per_record: f64,
    /// Filter bits per record.
    pub filter_bits_per_record: f64,
    /// Expected false-positive rate of the filter.
    pub fpp: f64,
    /// The rate measured from the filter's bits at build time, for
    /// uniformly random queries (differs from `fpp` for a corpus that
    /// covers only part of the hash space).
    pub fpp_measured: Option<f64>,
    pub bucket_bits: u32,
    pub count_width: u32,
    pub overflow_entries: u64,
    pub sections: Vec<SectionInfo>,
    pub build: serde_json::Value,
}

/// One section's place and size.
#[derive(Clone, Debug, Serialize)]
pub struct SectionInfo {
    pub name: String,
    pub offset: u64,
    pub bytes: u64,
}

impl IndexInfo {
    /// Gathers the summary of an open index.
    pub fn of<D: AsRef<[u8]>>(index: &Index<D>) -> Result<IndexInfo> {
        let p = index.params();
        let filter_bytes = index.header().section(SectionId::Filter).len;
        let records = p.records;
        let per = |x: f64| {
            if records == 0 {
                0.0
            } else {
                x / records as f64
            }
        };
        Ok(IndexInfo {
            path: index.path().display().to_string(),
            kind: p.kind.name().to_string(),
            format_version: crate::format::FORMAT_VERSION,
            records,
            file_bytes: index.file_len(),
            filter_bytes,
            bytes_per_record: per((index.file_len() - filter_bytes) as f64),
            filter_bits_per_record: per(filter_bytes as f64 * 8.0),
            fpp: filter::expected_fpp(records, p.filter_blocks),
            fpp_measured: None,
            bucket_bits: p.bucket_bits,
            count_width: p.count_width,
            overflow_entries: p.overflow_entries,
            sections: index
                .header()
                .sections
                .iter()
                .map(|s| SectionInfo {
                    name: s.id.name().to_string(),
                    offset: s.offset,
                    bytes: s.len,
                })
                .collect(),
            build: index.build_record()?,
        })
        .map(|mut info| {
            info.fpp_measured = info
                .build
                .get("filter_fpp_measured")
                .and_then(|v| v.as_f64());
            info
        })
    }

    /// Human-readable multi-line text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let build = &self.build;
        let field = |k: &str| {
            build
                .get(k)
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default()
        };
        s += &format!("index:            {}\n", self.path);
        s += &format!("kind:             {}\n", self.kind);
        s += &format!("format version:   {}\n", self.format_version);
        s += &format!("records:          {}\n", self.records);
        s += &format!("file size:        {} bytes\n", self.file_bytes);
        s += &format!(
            "bytes per record: {:.3} (without the filter)\n",
            self.bytes_per_record
        );
        s += &format!(
            "filter:           {} bytes, {:.2} bits per record, expected false-positive rate {:.4}%",
            self.filter_bytes,
            self.filter_bits_per_record,
            self.fpp * 100.0
        );
        if let Some(measured) = self.fpp_measured {
            s += &format!(" (measured from its bits: {:.4}%)", measured * 100.0);
        }
        s += "\n";
        s += &format!(
            "layout:           {} bucket bits, {}-bit count codes, {} overflow counts\n",
            self.bucket_bits, self.count_width, self.overflow_entries
        );
        s += &format!(
            "built:            {} by pwdex {}\n",
            field("built_at"),
            field("pwdex_version")
        );
        if let Some(inputs) = build.get("inputs").and_then(|v| v.as_array()) {
            for input in inputs {
                s += &format!(
                    "from:             {} ({} bytes, {} lines, xxh3 {})\n",
                    input.get("path").and_then(|v| v.as_str()).unwrap_or("?"),
                    input
                        .get("bytes")
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    input
                        .get("lines")
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                    input.get("xxh3").and_then(|v| v.as_str()).unwrap_or("?"),
                );
            }
        }
        s
    }
}
