/*!
Runtime CPU dispatch for `check`'s hot loops.

pwdex is built for the baseline x86-64 target, so that one binary runs on
every 64-bit x86 CPU. The loops that take nearly all of a check's time (a
slice's parse loop, the lookups and the output formatting) are compiled a
second time for the x86-64-v3 level (AVX2, BMI1/2, POPCNT, LZCNT: Intel
since 2013, AMD since 2015) and chosen at run time with [`has_v3`]. Same
source, same semantics: the compiler only gets to use `popcnt`, `tzcnt`,
shifts by a register without `cl`, and three-operand vector forms.

Measured (`farm-bench`, against the same commit without dispatch, index in
the page cache): 10M queries against 20M records 0.956x CPU and 0.952x
wall (12 pairs); 1M against 5M 0.965x and 0.970x (20 pairs). The whole
binary built with `-C target-cpu=x86-64-v3` measured 0.947x and 0.944x: the
dispatched loops hold most of the gain.

`PWDEX_CPU=baseline` in the environment keeps the baseline builds, to rule
the dispatch out when chasing a problem; `native` (the default) picks by the
CPU, and the binary warns about any other value. The test suite runs both
ways and compares the answers.
*/

use std::sync::OnceLock;

/// Whether this CPU runs the x86-64-v3 builds of the hot loops (always false
/// off x86-64, and with `PWDEX_CPU=baseline`). Decided once per process.
#[inline]
pub fn has_v3() -> bool {
    static V3: OnceLock<bool> = OnceLock::new();
    *V3.get_or_init(|| {
        if std::env::var_os("PWDEX_CPU").is_some_and(|v| v == "baseline") {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("bmi1")
                && std::arch::is_x86_feature_detected!("bmi2")
                && std::arch::is_x86_feature_detected!("popcnt")
                && std::arch::is_x86_feature_detected!("lzcnt")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}
