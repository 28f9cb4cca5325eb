//! Exact binomial sampling for the aggregate fast path.
//!
//! The aggregate path draws a few binomials per replication, with `n` changing on
//! every call, so the sampler has to be cheap to set up as well as to run. For a
//! mean `n·min(p, 1−p)` of 10 or more it uses BTRD, the transformed rejection
//! with decomposition of W. Hörmann, "The generation of binomial random
//! variates", *J. Statist. Comput. Simul.* 46 (1993) 101–110; below that it uses
//! inversion, a sequential search of the CDF from 0, whose expected length is
//! about the mean. `p > 0.5` is handled as `n − Bin(n, 1 − p)`.
//!
//! Both methods are exact: the only approximations are f64 rounding and the
//! truncated Stirling series of the final acceptance test (error below 1e−12).
//! One deliberate change from the paper: the normal-approximation squeeze of
//! BTRD is only consulted while `|k − m| < npq/2 − 1` (the range in which BTPE
//! uses the same bounds), because far in the lower tail its lower bound lies
//! above the true log-density and would accept a few values too often.
//!
//! Uniforms come straight from `next_u64` (53 bits), so a draw is a pure
//! function of the RNG stream; nothing allocates and nothing is global.
//!
//! A distribution drawn from many times is better served by a [`Table`]:
//! Walker's alias method over the mode ± a few standard deviations, with the
//! tails beyond drawn by sequential inversion, so it too is exact up to f64
//! rounding. Building one costs a walk over its values and allocates, so
//! the aggregate path builds them once per run (see its module).

use rand::Rng;

/// 2^−53: one unit in the last place of a 53-bit uniform.
const EPSILON_53: f64 = 1.0 / (1u64 << 53) as f64;

/// A uniform in [0, 1) with 53 random bits.
#[inline]
fn uniform<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * EPSILON_53
}

/// A uniform in (0, 1): BTRD takes logs of it and divides by `0.5 − |u|`, so
/// neither 0 nor an endpoint may come out.
#[inline]
fn uniform_open<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * EPSILON_53
}

/// `fc(k)` for k = 0..9, where the Stirling series converges too slowly.
const FC_TABLE: [f64; 10] = [
    0.08106146679532726,
    0.0413406959554093,
    0.02767792568499834,
    0.020790672103765093,
    0.016644691189821193,
    0.013876128823070748,
    0.01189670994589177,
    0.010411265261972096,
    0.009255462182712733,
    0.00833056343336287,
];

/// `fc(k) = ln k! − (k + ½) ln(k + 1) + (k + 1) − ½ ln 2π`, the error of
/// Stirling's formula. With it BTRD's final test compares against the exact
/// log-density ratio without evaluating ln k! for large k.
#[inline]
fn stirling_correction(k: f64) -> f64 {
    if k < 10.0 {
        FC_TABLE[k as usize]
    } else {
        // Four terms keep the error below 4e−13 from k = 10 on.
        let r = 1.0 / (k + 1.0);
        let r2 = r * r;
        r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))
    }
}

/// A binomial distribution prepared for repeated sampling (constants computed once).
#[derive(Clone, Copy, Debug)]
pub struct Binomial {
    n: u64,
    /// Sample `Bin(n, 1 − p)` and return `n` minus the draw; both methods need `p ≤ ½`.
    flip: bool,
    method: Method,
}

#[derive(Clone, Copy, Debug)]
enum Method {
    /// A degenerate distribution (n = 0, p ≤ 0, p ≥ 1 or p NaN).
    Fixed(u64),
    Inversion(Inversion),
    Btrd(Btrd),
}

impl Binomial {
    /// Prepares `Bin(n, p)`. Never fails: `n = 0`, `p ≤ 0` and NaN `p` always give
    /// 0, and `p ≥ 1` always gives `n`.
    pub fn new(n: u64, p: f64) -> Binomial {
        let mut dist = Self::prepare(n, p);
        if let Method::Btrd(btrd) = &mut dist.method {
            btrd.h = btrd.mode_term();
        }
        dist
    }

    /// Everything but BTRD's `h`, which costs two logs and is needed only by the
    /// rare draws that reach the final acceptance test; a one-shot draw computes
    /// it on demand instead.
    #[inline]
    fn prepare(n: u64, p: f64) -> Binomial {
        let degenerate = |x| Binomial {
            n,
            flip: false,
            method: Method::Fixed(x),
        };
        if n == 0 || p.is_nan() || p <= 0.0 {
            return degenerate(0);
        }
        if p >= 1.0 {
            return degenerate(n);
        }
        let flip = p > 0.5;
        // Exact for p ≥ ½ (Sterbenz), so the flip loses nothing.
        let p = if flip { 1.0 - p } else { p };
        let method = if n as f64 * p < 10.0 {
            Method::Inversion(Inversion::new(n, p))
        } else {
            Method::Btrd(Btrd::new(n, p))
        };
        Binomial { n, flip, method }
    }

    /// One draw.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let x = match &self.method {
            Method::Fixed(x) => return *x,
            Method::Inversion(inv) => inv.sample(rng),
            Method::Btrd(btrd) => btrd.sample(rng),
        };
        // Beyond 2^53 `n as f64` can round up past n; keep the flip from underflowing.
        let x = x.min(self.n);
        if self.flip { self.n - x } else { x }
    }
}

/// One draw without keeping the constants (what the hot path calls; n changes every call).
#[inline]
pub fn sample<R: Rng + ?Sized>(rng: &mut R, n: u64, p: f64) -> u64 {
    Binomial::prepare(n, p).sample(rng)
}

/// Sequential search of the CDF from 0 with one uniform, for means below 10.
///
/// The search runs on the pmf scaled by 1/f(0) = q⁻ⁿ, so its terms do not wait
/// for that power: on the one-shot path the exp and log behind it are the slowest
/// part of the draw, and the CPU can overlap them with the search.
#[derive(Clone, Copy, Debug)]
struct Inversion {
    n: u64,
    /// p / q: the pmf ratio is f(x) / f(x − 1) = (n + 1)·s / x − s.
    s: f64,
    /// (n + 1)·s.
    a: f64,
    /// 1 / f(0) = q⁻ⁿ, at most about e^14 because np < 10 and p ≤ ½.
    inv_f0: f64,
}

impl Inversion {
    #[inline]
    fn new(n: u64, p: f64) -> Inversion {
        let s = p / (1.0 - p);
        Inversion {
            n,
            s,
            a: (n as f64 + 1.0) * s,
            // ln_1p keeps q⁻ⁿ accurate when p is tiny and n huge (1 − p would
            // round p away).
            inv_f0: (-(n as f64) * (-p).ln_1p()).exp(),
        }
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        'draw: loop {
            let target = uniform(rng) * self.inv_f0;
            // g = f(x)/f(0) and cdf = F(x)/f(0). x is also counted as an f64
            // because converting a u64 takes several instructions on x86-64.
            let (mut g, mut cdf, mut x, mut x_f64) = (1.0, 1.0, 0, 0.0);
            while target >= cdf {
                // Rounding can leave the computed masses summing to slightly
                // less than 1; a target in that gap is redrawn rather than
                // walking on through a pmf that has become 0.
                if x == self.n || g == 0.0 {
                    continue 'draw;
                }
                x += 1;
                x_f64 += 1.0;
                g *= self.a / x_f64 - self.s;
                cdf += g;
            }
            return x;
        }
    }
}

/// BTRD's constants for `Bin(n, p)` with `p ≤ ½` and `np ≥ 10` (the range in
/// which Hörmann's hat and inner box are proven to hold). Integers are kept as
/// f64 because every use is in floating-point arithmetic.
#[derive(Clone, Copy, Debug)]
struct Btrd {
    n: f64,
    /// The mode ⌊(n + 1)p⌋, where the ratios f(k)/f(m) are anchored.
    m: f64,
    /// p / q.
    r: f64,
    /// (n + 1)·r.
    nr: f64,
    npq: f64,
    a: f64,
    b: f64,
    c: f64,
    alpha: f64,
    v_r: f64,
    /// 1 / v_r, computed from b directly so that the common path waits for one
    /// division fewer.
    inv_v_r: f64,
    u_rv_r: f64,
    /// The k-independent part of ln f(k)/f(m) in the final test; NaN until computed.
    h: f64,
}

impl Btrd {
    #[inline]
    fn new(n: u64, p: f64) -> Btrd {
        let n = n as f64;
        let q = 1.0 - p;
        let npq = n * p * q;
        let sqrt_npq = npq.sqrt();
        let b = 1.15 + 2.53 * sqrt_npq;
        let inv_b = 1.0 / b;
        let v_r = 0.92 - 4.2 * inv_b;
        let r = p / q;
        Btrd {
            n,
            m: (((n + 1.0) * p) as u64) as f64,
            r,
            nr: (n + 1.0) * r,
            npq,
            a: -0.0873 + 0.0248 * b + 0.01 * p,
            b,
            c: n * p + 0.5,
            alpha: (2.83 + 5.1 * inv_b) * sqrt_npq,
            v_r,
            inv_v_r: b / (0.92 * b - 4.2),
            u_rv_r: 0.86 * v_r,
            h: f64::NAN,
        }
    }

    /// `h = (m + ½) ln((m + 1) / (r·(n − m + 1))) + fc(m) + fc(n − m)`.
    fn mode_term(&self) -> f64 {
        let nm = self.n - self.m + 1.0;
        (self.m + 0.5) * ((self.m + 1.0) / (self.r * nm)).ln()
            + stirling_correction(self.m)
            + stirling_correction(self.n - self.m)
    }

    /// Bounds on ln f(k)/f(m) from the normal approximation, given km = |k − m|,
    /// which settle most draws far from the mode without the Stirling terms. None
    /// where they are not valid (see the module documentation).
    #[inline]
    fn squeeze(&self, km: f64) -> Option<(f64, f64)> {
        if km >= 0.5 * self.npq - 1.0 {
            return None;
        }
        let rho = (km / self.npq) * (((km / 3.0 + 0.625) * km + 1.0 / 6.0) / self.npq + 0.5);
        let t = -km * km / (2.0 * self.npq);
        Some((t - rho, t + rho))
    }

    /// ln f(k)/f(m), exactly up to rounding and the Stirling remainder, given `h`.
    fn ln_ratio(&self, k: f64, h: f64) -> f64 {
        let nm = self.n - self.m + 1.0;
        let nk = self.n - k + 1.0;
        h + (self.n + 1.0) * (nm / nk).ln() + (k + 0.5) * (nk * self.r / (k + 1.0)).ln()
            - stirling_correction(k)
            - stirling_correction(self.n - k)
    }

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let mut h = self.h;
        loop {
            // The point (u, v) is uniform on [−½, ½] × [0, 1]; k = ⌊g(u) + c⌋ with
            // g(u) = (2a / (½ − |u|) + b)·u, accepted when v·α / g'(u) ≤ f(k)/f(m).
            let mut v = uniform_open(rng);
            // Most of the time (u, v) falls in the box |u| ≤ 0.43, v ≤ v_r that lies
            // wholly under the density, and then v's position inside the box is a
            // uniform u for free and no test is needed.
            if v <= self.u_rv_r {
                let u = v * self.inv_v_r - 0.43;
                // The cast truncates, which is ⌊·⌋ here because the box lies in k ≥ 0.
                return ((2.0 * self.a / (0.5 - u.abs()) + self.b) * u + self.c) as u64;
            }
            // Otherwise (u, v) is uniform on the complement of the box: either above
            // it (keep v ∈ (v_r, 1), draw u afresh) or in its two side strips
            // 0.43 < |u| < ½ (reuse v's position for u, draw the height afresh).
            let u;
            if v >= self.v_r {
                u = uniform_open(rng) - 0.5;
            } else {
                let w = v * self.inv_v_r - 0.93;
                u = 0.5f64.copysign(w) - w;
                v = self.v_r * uniform_open(rng);
            }
            let us = 0.5 - u.abs();
            let x = (2.0 * self.a / us + self.b) * u + self.c;
            // k = ⌊x⌋ must lie in 0..=n, that is 0 ≤ x < n + 1; this also rejects
            // the infinite x that u = ±½ would give. On that range the cast
            // truncates to ⌊x⌋ (f64::floor is a libm call on baseline x86-64 and
            // cost as much as a tenth of a draw).
            if !(0.0..self.n + 1.0).contains(&x) {
                continue;
            }
            let k_int = x as u64;
            let k = k_int as f64;
            // The acceptance test is v·α / g'(u) ≤ f(k)/f(m) with g'(u) = a/us² + b;
            // it is kept as the fraction w / g so that the common case below needs
            // no division.
            let (w, g) = (v * self.alpha * us * us, self.a + self.b * us * us);
            let km = (k - self.m).abs();
            if km <= 15.0 {
                // Near the mode f(k)/f(m) is a short product of
                // f(i)/f(i − 1) = (nr − r·i)/i, cheaper than logs. Numerators and
                // denominators are multiplied apart so that the test needs no
                // division (15 factors below 2^64 cannot overflow). Counting with
                // an integer terminates even where f64 has no unit resolution.
                let lo = k.min(self.m);
                let (mut num, mut den) = (1.0, 1.0);
                for j in 1..=km as u32 {
                    let i = lo + f64::from(j);
                    num *= self.nr - self.r * i;
                    den *= i;
                }
                // f(k)/f(m) is num/den above the mode and den/num below it.
                let accept = if k > self.m {
                    w * den <= g * num
                } else {
                    w * num <= g * den
                };
                if accept {
                    return k_int;
                }
                continue;
            }
            let ln_v = (w / g).ln();
            if let Some((lower, upper)) = self.squeeze(km) {
                if ln_v < lower {
                    return k_int;
                }
                if ln_v > upper {
                    continue;
                }
            }
            if h.is_nan() {
                h = self.mode_term();
            }
            if ln_v <= self.ln_ratio(k, h) {
                return k_int;
            }
        }
    }
}

/// `Bin(n, p)` by Walker's alias method, for a distribution drawn from again
/// and again (the aggregate path's arm split always has the same `n`, and
/// its conversion draws have one of a few hundred likely arm sizes): one
/// 64-bit word and one table entry per draw, where BTRD needs a division
/// and often a second word or a logarithm, and inversion a search.
///
/// The table covers a central range `lo..=hi` (the mode ± a few standard
/// deviations) plus one slot for "outside": K = 2^bits slots, each with a
/// threshold and an alias (Vose's construction, in f64). A word's top bits
/// pick the slot, and the next 48 bits against its threshold choose between
/// the slot and its alias. When "outside" comes out, a fresh uniform is
/// inverted over the masses below `lo` and above `hi` by sequential search
/// outward from the table's ends, so nothing is truncated. The masses come
/// from the pmf ratios f(k + 1)/f(k) = (n − k)/(k + 1) · p/q walked out from
/// the mode and normalised by their sum, exact up to f64 rounding like the
/// other samplers here (thresholds are kept to 2⁻⁴⁸ of a slot's mass). The
/// tails' walks stop where a term falls below 2⁻⁸⁰ of the mode's; the pmf is
/// log-concave, so what lies beyond is bounded by a geometric series and is
/// below 10⁻²⁴ of the mass: the one truncation, never drawn in practice.
#[derive(Clone, Debug)]
pub struct Table {
    lo: u64,
    /// Values in the table: `lo..lo + values`; slot index `values` is "outside".
    values: usize,
    /// Per slot: the threshold (top 48 bits) and the alias (low 16 bits).
    slots: Box<[u64]>,
    /// log₂ K, and 64 − log₂ K: a word's top bits index the slots.
    bits: u32,
    shift: u32,
    /// The weights f(k)/total outward from the table's ends (`below[0]` is
    /// k = lo − 1), and their sums.
    below: Box<[f64]>,
    above: Box<[f64]>,
    lower_mass: f64,
    upper_mass: f64,
}

/// A term below this share of the mode's ends a tail's walk.
const TAIL_END: f64 = 1.0 / (1u128 << 80) as f64;

/// The low 16 bits of a slot: its alias.
const ALIAS_MASK: u64 = 0xFFFF;

impl Table {
    /// Most values a table holds (with the outside slot, K ≤ 2^16, so an
    /// alias fits 16 bits): wider distributions are left to BTRD.
    pub const MAX_VALUES: usize = (1 << 16) - 1;

    /// The table over the mode ± `width` standard deviations (and one more
    /// value each side), or None when `Bin(n, p)` is degenerate or the table
    /// would exceed [`Table::MAX_VALUES`].
    pub fn new(n: u64, p: f64, width: f64) -> Option<Table> {
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        let reach = (width.max(0.0) * sd).ceil() + 1.0;
        if reach.is_nan() || 2.0 * reach + 1.0 > Self::MAX_VALUES as f64 {
            return None;
        }
        Self::with_reach(n, p, reach as u64)
    }

    /// The table over the mode ± `reach` values, or None when `Bin(n, p)`
    /// is degenerate or the table would exceed [`Table::MAX_VALUES`].
    pub fn with_reach(n: u64, p: f64, reach: u64) -> Option<Table> {
        if n == 0 || p.is_nan() || p <= 0.0 || p >= 1.0 || reach > (Self::MAX_VALUES as u64 - 1) / 2
        {
            return None;
        }
        let nf = n as f64;
        let q = 1.0 - p;
        let mode = (((nf + 1.0) * p).floor() as u64).min(n);
        let (lo, hi) = (mode.saturating_sub(reach), (mode + reach).min(n));
        let (r, inv_r) = (p / q, q / p);
        // f(k + 1)/f(k) and f(k − 1)/f(k).
        let up = |k: u64| (n - k) as f64 / (k + 1) as f64 * r;
        let down = |k: u64| k as f64 / (n - k + 1) as f64 * inv_r;
        // Weights f(k)/f(mode) over the table.
        let mut weights = vec![0.0; (hi - lo + 1) as usize];
        let at = (mode - lo) as usize;
        weights[at] = 1.0;
        for i in at + 1..weights.len() {
            weights[i] = weights[i - 1] * up(lo + i as u64 - 1);
        }
        for i in (0..at).rev() {
            weights[i] = weights[i + 1] * down(lo + i as u64 + 1);
        }
        let walk = |start: f64, from: u64, step: &dyn Fn(u64) -> Option<(u64, f64)>| {
            let mut out = Vec::new();
            let (mut k, mut w) = (from, start);
            while let Some((next, ratio)) = step(k) {
                w *= ratio;
                if w.is_nan() || w < TAIL_END {
                    break;
                }
                out.push(w);
                k = next;
            }
            out
        };
        let below = walk(weights[0], lo, &|k| (k > 0).then(|| (k - 1, down(k))));
        let above = walk(weights[weights.len() - 1], hi, &|k| {
            (k < n).then(|| (k + 1, up(k)))
        });
        let (sum_below, sum_above): (f64, f64) = (below.iter().sum(), above.iter().sum());
        let total = sum_below + weights.iter().sum::<f64>() + sum_above;
        let values = weights.len();
        weights.push(sum_below + sum_above);
        let bits = usize::BITS - values.leading_zeros();
        Some(Table {
            lo,
            values,
            slots: alias_slots(&weights, total, bits),
            bits,
            shift: 64 - bits,
            below: below.iter().map(|w| w / total).collect(),
            above: above.iter().map(|w| w / total).collect(),
            lower_mass: sum_below / total,
            upper_mass: sum_above / total,
        })
    }

    /// The slots [`Table::with_reach`] would hold (0 where it gives None),
    /// without building the table: the same sizing, so a caller can refuse
    /// tables that would not fit before paying for them.
    pub fn slots_with_reach(n: u64, p: f64, reach: u64) -> usize {
        if n == 0 || p.is_nan() || p <= 0.0 || p >= 1.0 || reach > (Self::MAX_VALUES as u64 - 1) / 2
        {
            return 0;
        }
        let mode = ((((n as f64) + 1.0) * p).floor() as u64).min(n);
        let values = ((mode + reach).min(n) - mode.saturating_sub(reach) + 1) as usize;
        1 << (usize::BITS - values.leading_zeros())
    }

    /// Slots of the table (K, a power of two above the values it holds).
    pub fn entries(&self) -> usize {
        self.slots.len()
    }

    /// One draw.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        loop {
            let word = rng.next_u64();
            let j = (word >> self.shift) as usize;
            let slot = self.slots[j];
            // The 48 bits after the slot's (bits ≤ 16), against its threshold.
            let x = (word << self.bits) >> 16;
            let v = if x < slot >> 16 {
                j
            } else {
                (slot & ALIAS_MASK) as usize
            };
            if v < self.values {
                return self.lo + v as u64;
            }
            if self.lower_mass + self.upper_mass > 0.0 {
                return self.tail(rng);
            }
            // The table spans the support, and rounding left the outside
            // slot a sliver of mass: draw again.
        }
    }

    /// A draw given that it lies outside the table, by inversion over the
    /// two tails' masses with a fresh uniform.
    #[cold]
    fn tail<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        let hi = self.lo + self.values as u64 - 1;
        loop {
            let mut t = uniform(rng) * (self.lower_mass + self.upper_mass);
            if t < self.lower_mass {
                for (d, w) in self.below.iter().enumerate() {
                    t -= w;
                    if t < 0.0 {
                        return self.lo - 1 - d as u64;
                    }
                }
            } else {
                t -= self.lower_mass;
                for (d, w) in self.above.iter().enumerate() {
                    t -= w;
                    if t < 0.0 {
                        return hi + 1 + d as u64;
                    }
                }
            }
            // Rounding left t beyond the walked masses: draw again.
        }
    }
}

/// Vose's alias slots for `weights / total` over 2^bits slots (those past
/// the weights have none): each slot's threshold, its share of a slot's
/// mass in units of 2⁻⁴⁸, in the top 48 bits and its alias in the low 16.
/// A slot whose own mass fills it is its own alias, so the threshold never
/// needs to reach 2⁴⁸.
fn alias_slots(weights: &[f64], total: f64, bits: u32) -> Box<[u64]> {
    let k = 1usize << bits;
    let scale = k as f64 / total;
    let mut mass: Vec<f64> = (0..k)
        .map(|i| weights.get(i).map_or(0.0, |w| w * scale))
        .collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..k).partition(|&i| mass[i] < 1.0);
    // Every slot starts as its own alias (full); each small one is filled
    // from a large one, whose excess shrinks by what it gave.
    let mut slots: Vec<u64> = (0..k as u64).collect();
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        let threshold = (mass[s] * (1u64 << 48) as f64) as u64;
        slots[s] = (threshold.min((1 << 48) - 1) << 16) | l as u64;
        mass[l] = (mass[l] + mass[s]) - 1.0;
        if mass[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // What is left is full up to rounding: its own alias.
    slots.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use statrs::distribution::{
        Binomial as Exact, ChiSquared, ContinuousCDF, Discrete, DiscreteCDF,
    };
    use statrs::function::factorial::ln_factorial;

    /// The result of a chi-square goodness-of-fit test of `draws` samples.
    struct Fit {
        p_value: f64,
        /// (sample mean − np) in standard errors.
        mean_z: f64,
    }

    /// Draws `draws` samples of `Bin(n, p)` and tests them against statrs's exact
    /// pmf, pooling neighbouring cells until each expects at least 5.
    fn fit(n: u64, p: f64, draws: usize, seed: u64) -> Fit {
        let dist = Binomial::new(n, p);
        fit_with(n, p, draws, seed, |rng| dist.sample(rng))
    }

    /// [`fit`] for any sampler of `Bin(n, p)`.
    fn fit_with(
        n: u64,
        p: f64,
        draws: usize,
        seed: u64,
        mut sample: impl FnMut(&mut ChaCha8Rng) -> u64,
    ) -> Fit {
        let exact = Exact::new(p, n).unwrap();
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        // Values outside mean ± (10 sd + 10) go into the two end cells.
        let lo = (mean - 10.0 * sd - 10.0).max(0.0) as u64;
        let hi = ((mean + 10.0 * sd + 10.0).ceil() as u64).min(n);
        let mut observed = vec![0u64; (hi - lo + 1) as usize];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut sum = 0.0;
        for _ in 0..draws {
            let x = sample(&mut rng);
            assert!(x <= n, "Bin({n}, {p}) gave {x}");
            sum += x as f64;
            observed[(x.clamp(lo, hi) - lo) as usize] += 1;
        }
        let last = observed.len() - 1;
        let expected: Vec<f64> = (0..=last)
            .map(|i| {
                let k = lo + i as u64;
                let prob = if i == 0 {
                    exact.cdf(k)
                } else if i == last {
                    exact.sf(k - 1)
                } else {
                    exact.pmf(k)
                };
                prob * draws as f64
            })
            .collect();
        let total: f64 = expected.iter().sum();
        assert!(
            (total / draws as f64 - 1.0).abs() < 1e-6,
            "expected counts of Bin({n}, {p}) sum to {total}, not {draws}"
        );

        let mut cells: Vec<(f64, f64)> = Vec::new();
        let (mut e_acc, mut o_acc) = (0.0, 0.0);
        for (e, o) in expected.iter().zip(&observed) {
            e_acc += e;
            o_acc += *o as f64;
            if e_acc >= 5.0 {
                cells.push((e_acc, o_acc));
                (e_acc, o_acc) = (0.0, 0.0);
            }
        }
        let tail = cells.last_mut().expect("at least one cell");
        tail.0 += e_acc;
        tail.1 += o_acc;
        assert!(cells.len() >= 2, "Bin({n}, {p}): too few cells to test");
        let chi2: f64 = cells.iter().map(|(e, o)| (o - e) * (o - e) / e).sum();
        let df = cells.len() - 1;
        let p_value = ChiSquared::new(df as f64).unwrap().sf(chi2);
        let mean_z = (sum / draws as f64 - mean) / (sd / (draws as f64).sqrt());
        println!(
            "Bin({n}, {p}): {draws} draws, {} cells, chi2 = {chi2:.1} on {df} df, \
             p-value = {p_value:.4}, mean z = {mean_z:.2}",
            cells.len()
        );
        Fit { p_value, mean_z }
    }

    fn check(n: u64, p: f64, draws: usize, seed: u64) {
        assert_fits(n, p, &fit(n, p, draws, seed));
    }

    fn assert_fits(n: u64, p: f64, fit: &Fit) {
        assert!(
            fit.p_value > 1e-4,
            "Bin({n}, {p}): chi-square p-value {}",
            fit.p_value
        );
        assert!(
            fit.mean_z.abs() < 5.0,
            "Bin({n}, {p}): mean off by {} standard errors",
            fit.mean_z
        );
    }

    /// Checks the table sampler of `Bin(n, p)` over the mode ± `width`
    /// standard deviations against the exact pmf, and returns the share of
    /// draws that came from the tails (outside the table).
    fn check_table(n: u64, p: f64, width: f64, seed: u64) -> f64 {
        let table = Table::new(n, p, width).expect("a table");
        let hi = table.lo + table.values as u64 - 1;
        let mut outside = 0u64;
        let draws = 200_000;
        let fit = fit_with(n, p, draws, seed, |rng| {
            let x = table.sample(rng);
            outside += u64::from(x < table.lo || x > hi);
            x
        });
        assert_fits(n, p, &fit);
        outside as f64 / draws as f64
    }

    #[test]
    fn tables_fit_the_aggregate_paths_draws() {
        // The arm split and a conversion draw of the peer benchmark.
        check_table(10_000, 0.5, 7.0, 30);
        check_table(5_000, 0.1, 6.0, 31);
        check_table(4_900, 0.1, 6.0, 32);
        check_table(1_000_000, 0.02, 6.0, 33);
    }

    /// Narrow tables send much of the mass to the tails' walks, which must
    /// then draw it in proportion too (a truncated or misplaced tail would
    /// fail these).
    #[test]
    fn narrow_tables_draw_their_tails_exactly() {
        for (i, &(n, p, width)) in [
            (10_000, 0.5, 0.5),
            (5_000, 0.1, 0.3),
            (20, 0.3, 0.0),
            (1_000, 0.995, 1.0),
            (1_000, 0.001, 0.5),
            (100, 0.9, 0.2),
        ]
        .iter()
        .enumerate()
        {
            let outside = check_table(n, p, width, 40 + i as u64);
            assert!(
                outside > 0.01,
                "Bin({n}, {p}) ± {width} sd: {outside} outside"
            );
        }
        // Tables reaching both ends of the support have no tails.
        check_table(1, 0.3, 3.0, 50);
        check_table(30, 0.5, 40.0, 51);
    }

    #[test]
    fn tables_refuse_degenerate_and_wide_distributions() {
        assert!(Table::new(0, 0.5, 6.0).is_none());
        assert!(Table::new(10, 0.0, 6.0).is_none());
        assert!(Table::new(10, 1.0, 6.0).is_none());
        assert!(Table::new(10, f64::NAN, 6.0).is_none());
        assert!(Table::new(u64::from(u32::MAX), 0.5, 6.0).is_none());
        assert!(Table::new(u64::MAX, 1e-9, 6.0).is_none());
        for &(n, p, reach) in &[
            (10_000, 0.5, 63),
            (5_000, 0.1, 63),
            (3, 0.5, 63),
            (100, 0.001, 10),
        ] {
            let table = Table::with_reach(n, p, reach).expect("a table");
            assert_eq!(Table::slots_with_reach(n, p, reach), table.entries());
        }
        assert_eq!(Table::slots_with_reach(0, 0.5, 63), 0);
        assert_eq!(Table::slots_with_reach(10, 1.0, 63), 0);
    }

    #[test]
    fn fits_small_n_by_inversion() {
        check(20, 0.3, 200_000, 1);
    }

    #[test]
    fn fits_rare_events_by_inversion() {
        check(1000, 0.001, 200_000, 2);
    }

    #[test]
    fn fits_just_below_the_btrd_threshold() {
        check(99, 0.1, 200_000, 3);
    }

    #[test]
    fn fits_flipped_inversion() {
        check(1000, 0.995, 200_000, 4);
    }

    #[test]
    fn fits_at_the_btrd_threshold() {
        check(20, 0.5, 200_000, 5);
        check(100, 0.1, 200_000, 6);
    }

    #[test]
    fn fits_btrd_half() {
        check(100, 0.5, 200_000, 7);
    }

    #[test]
    fn fits_btrd_moderate_n() {
        check(5000, 0.1, 200_000, 8);
    }

    #[test]
    fn fits_flipped_btrd() {
        check(5000, 0.9, 200_000, 9);
    }

    #[test]
    fn fits_btrd_large_variance() {
        check(10_000, 0.5, 200_000, 10);
    }

    #[test]
    fn fits_btrd_million() {
        check(1_000_000, 0.02, 200_000, 11);
    }

    #[test]
    fn fits_btrd_ten_million() {
        check(10_000_000, 0.3, 200_000, 12);
    }

    #[test]
    fn fits_n_one() {
        check(1, 0.3, 200_000, 13);
        check(1, 0.8, 200_000, 14);
    }

    #[test]
    fn fits_huge_n_tiny_p() {
        check(u64::from(u32::MAX), 1e-9, 200_000, 15);
    }

    #[test]
    fn method_follows_the_mean_of_the_smaller_side() {
        let method = |n, p| match Binomial::new(n, p) {
            Binomial {
                method: Method::Fixed(_),
                ..
            } => "fixed",
            Binomial {
                method: Method::Inversion(_),
                flip: false,
                ..
            } => "inversion",
            Binomial {
                method: Method::Inversion(_),
                flip: true,
                ..
            } => "flipped inversion",
            Binomial {
                method: Method::Btrd(_),
                flip: false,
                ..
            } => "btrd",
            Binomial {
                method: Method::Btrd(_),
                flip: true,
                ..
            } => "flipped btrd",
        };
        assert_eq!(method(0, 0.5), "fixed");
        assert_eq!(method(20, 0.3), "inversion");
        assert_eq!(method(99, 0.1), "inversion");
        assert_eq!(method(1000, 0.995), "flipped inversion");
        assert_eq!(method(u64::from(u32::MAX), 1e-9), "inversion");
        assert_eq!(method(20, 0.5), "btrd");
        assert_eq!(method(100, 0.1), "btrd");
        assert_eq!(method(5000, 0.9), "flipped btrd");
        assert_eq!(method(10_000_000, 0.3), "btrd");
    }

    #[test]
    fn degenerate_parameters_give_fixed_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        for _ in 0..100 {
            assert_eq!(sample(&mut rng, 0, 0.5), 0);
            assert_eq!(sample(&mut rng, 0, f64::NAN), 0);
            assert_eq!(sample(&mut rng, 0, 1.0), 0);
            assert_eq!(sample(&mut rng, 50, 0.0), 0);
            assert_eq!(sample(&mut rng, 50, -0.0), 0);
            assert_eq!(sample(&mut rng, 50, -1.0), 0);
            assert_eq!(sample(&mut rng, 50, f64::NEG_INFINITY), 0);
            assert_eq!(sample(&mut rng, 50, f64::NAN), 0);
            assert_eq!(sample(&mut rng, 50, 1.0), 50);
            assert_eq!(sample(&mut rng, 50, 1.5), 50);
            assert_eq!(sample(&mut rng, 50, f64::INFINITY), 50);
            assert_eq!(sample(&mut rng, u64::MAX, 1.0), u64::MAX);
        }
    }

    #[test]
    fn extreme_parameters_stay_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for &p in &[5e-324, 1e-300, 1e-18, 1e-9, 0.3, 0.5, 1.0 - 1e-16] {
            for &n in &[1, 2, 10, u64::from(u32::MAX), 1 << 53, u64::MAX] {
                let dist = Binomial::new(n, p);
                // Measured from the nearer end, where f64 still resolves units.
                let p_near = p.min(1.0 - p);
                let mean = n as f64 * p_near;
                let sd = (mean * (1.0 - p_near)).sqrt();
                for _ in 0..200 {
                    let x = dist.sample(&mut rng);
                    assert!(x <= n, "Bin({n}, {p}) gave {x}");
                    let y = if p > 0.5 { n - x } else { x };
                    assert!(
                        (y as f64 - mean).abs() <= 10.0 * sd + 10.0,
                        "Bin({n}, {p}) gave {x}, mean {}",
                        n as f64 * p
                    );
                }
            }
        }
    }

    #[test]
    fn same_seed_same_sequence_either_way() {
        for &(n, p) in &[(20, 0.3), (1000, 0.001), (5000, 0.9), (1_000_000, 0.02)] {
            let run_prepared = |seed| {
                let dist = Binomial::new(n, p);
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                (0..5000).map(|_| dist.sample(&mut rng)).collect::<Vec<_>>()
            };
            let run_one_shot = |seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                (0..5000)
                    .map(|_| sample(&mut rng, n, p))
                    .collect::<Vec<_>>()
            };
            assert_eq!(run_prepared(18), run_prepared(18));
            assert_eq!(run_prepared(18), run_one_shot(18));
            assert_ne!(run_prepared(18), run_prepared(19));
        }
    }

    #[test]
    fn stirling_correction_matches_ln_factorial() {
        let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
        for k in 0..60u64 {
            let x = k as f64;
            let direct = ln_factorial(k) - (x + 0.5) * (x + 1.0).ln() + (x + 1.0) - half_ln_2pi;
            let fc = stirling_correction(x);
            assert!((fc - direct).abs() < 1e-12, "fc({k}) = {fc}, want {direct}");
        }
    }

    /// Checks BTRD's geometry against the exact pmf on a fine grid of u: the hat
    /// α / g'(u) must cover f(k)/f(m), the box must lie under it, the squeeze must
    /// bracket ln f(k)/f(m) wherever it is used, and the final test's formula must
    /// equal it. A wrong constant would bias draws by too little for the
    /// chi-square tests to see.
    #[test]
    fn btrd_hat_box_squeeze_and_final_test_hold() {
        let cases = [
            (20, 0.5),
            (30, 0.4),
            (100, 0.1),
            (1000, 0.5),
            (5000, 0.1),
            (20_000, 0.02),
            (100_000, 0.3),
            (1_000_000, 0.00001),
        ];
        for (n, p) in cases {
            let Method::Btrd(t) = Binomial::new(n, p).method else {
                panic!("Bin({n}, {p}) should use BTRD");
            };
            let exact = Exact::new(p, n).unwrap();
            let ln_fm = exact.ln_pmf(t.m as u64);
            let steps = 20_000;
            for i in 1..steps {
                let u = -0.5 + f64::from(i) / f64::from(steps);
                let us = 0.5 - u.abs();
                let k = ((2.0 * t.a / us + t.b) * u + t.c).floor();
                if !(0.0..=t.n).contains(&k) {
                    assert!(u.abs() > 0.43, "box reaches k = {k} outside 0..={n}");
                    continue;
                }
                let f = (exact.ln_pmf(k as u64) - ln_fm).exp();
                let g_prime = t.a / (us * us) + t.b;
                assert!(
                    f * g_prime <= t.alpha,
                    "Bin({n}, {p}): hat below f at k = {k}"
                );
                if u.abs() <= 0.43 {
                    assert!(
                        t.v_r * t.alpha <= f * g_prime,
                        "Bin({n}, {p}): box above f at k = {k}"
                    );
                }
            }
            let h = t.mode_term();
            // The whole support where it is small enough, which includes the far
            // lower tail where the unguarded squeeze would fail; elsewhere a bit
            // more than the squeeze's range.
            let m = t.m as u64;
            let reach = if n <= 20_000 {
                n
            } else {
                (0.5 * t.npq).ceil() as u64 + 20
            };
            for k in m.saturating_sub(reach)..=(m + reach).min(n) {
                let exact_ratio = exact.ln_pmf(k) - ln_fm;
                let kf = k as f64;
                let tol = 1e-8 * (1.0 + exact_ratio.abs());
                assert!(
                    (t.ln_ratio(kf, h) - exact_ratio).abs() < tol,
                    "Bin({n}, {p}): final test at k = {k} gives {}, want {exact_ratio}",
                    t.ln_ratio(kf, h)
                );
                let km = (kf - t.m).abs();
                if let Some((lower, upper)) = t.squeeze(km) {
                    assert!(
                        lower <= exact_ratio + tol && exact_ratio <= upper + tol,
                        "Bin({n}, {p}): squeeze misses at k = {k}"
                    );
                }
            }
        }
    }
}
