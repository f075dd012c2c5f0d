//! Money as integer micro-units of an ISO 4217 currency.
//!
//! Text form is the one of Cloudflare's pay-per-crawl headers (`crawler-price: USD 0.002`):
//! a three-letter upper-case currency code, one space, a decimal amount with at most six
//! fractional digits. `USD 0.002` is 2 000 µUSD.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Micro-units in one unit of currency.
pub const MICROS_PER_UNIT: u64 = 1_000_000;

/// An amount of money: `micros` millionths of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Money {
    /// ISO 4217 code, ASCII upper case (`*b"USD"`).
    pub currency: [u8; 3],
    /// Amount in micro-units (µUSD for USD).
    pub micros: u64,
}

/// Why a money string or operation was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not `CUR amount`.
    #[error("`{0}`: expected a price like `USD 0.002` (currency code, space, amount)")]
    Syntax(String),
    /// The currency is not three ASCII upper-case letters.
    #[error("`{0}`: currency must be a three-letter ISO 4217 code such as USD")]
    Currency(String),
    /// More than six fractional digits.
    #[error("`{0}`: at most 6 decimal places (micro-units)")]
    TooPrecise(String),
    /// Larger than u64 micro-units, or a sum/product that would be.
    #[error("amount overflows")]
    Overflow,
    /// Adding amounts of different currencies.
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(String, String),
    /// A subtraction whose result would be below zero (`Money` is unsigned; use [`Balance`]).
    #[error("amount would be negative")]
    Negative,
}

impl Money {
    /// `micros` of `currency`. The code must be three ASCII upper-case letters.
    pub fn new(currency: &str, micros: u64) -> Result<Money, MoneyError> {
        let b = currency.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::Currency(currency.to_string()));
        }
        Ok(Money {
            currency: [b[0], b[1], b[2]],
            micros,
        })
    }

    /// The currency code as a string.
    pub fn currency(&self) -> &str {
        // Constructors only admit ASCII upper-case letters.
        std::str::from_utf8(&self.currency).unwrap_or("???")
    }

    /// `self × n`, or `Overflow`.
    pub fn times(self, n: u64) -> Result<Money, MoneyError> {
        Ok(Money {
            micros: self.micros.checked_mul(n).ok_or(MoneyError::Overflow)?,
            ..self
        })
    }

    /// `self + other` in the same currency, or an error.
    pub fn plus(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency().into(),
                other.currency().into(),
            ));
        }
        Ok(Money {
            micros: self
                .micros
                .checked_add(other.micros)
                .ok_or(MoneyError::Overflow)?,
            ..self
        })
    }
}

impl Money {
    /// `self − other` in the same currency: `Negative` if `other > self`, `CurrencyMismatch`
    /// for different currencies.
    pub fn minus(self, other: Money) -> Result<Money, MoneyError> {
        check_currency(self.currency, other.currency)?;
        Ok(Money {
            micros: self
                .micros
                .checked_sub(other.micros)
                .ok_or(MoneyError::Negative)?,
            ..self
        })
    }
}

fn check_currency(a: [u8; 3], b: [u8; 3]) -> Result<(), MoneyError> {
    if a == b {
        return Ok(());
    }
    let s = |c: [u8; 3]| String::from_utf8_lossy(&c).into_owned();
    Err(MoneyError::CurrencyMismatch(s(a), s(b)))
}

/// A signed amount of money — an account balance, which for postpaid accounts goes below zero
/// down to the credit limit. `micros` is in micro-units of `currency`, within `i64` (about
/// ±9.2 × 10¹² units); every operation is checked and never wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Balance {
    /// ISO 4217 code, ASCII upper case.
    pub currency: [u8; 3],
    /// Signed amount in micro-units.
    pub micros: i64,
}

impl Balance {
    /// Zero of `currency` (three ASCII upper-case letters, else `Currency`).
    pub fn zero(currency: &str) -> Result<Balance, MoneyError> {
        let m = Money::new(currency, 0)?;
        Ok(Balance {
            currency: m.currency,
            micros: 0,
        })
    }

    /// The currency code as a string.
    pub fn currency(&self) -> &str {
        std::str::from_utf8(&self.currency).unwrap_or("???")
    }

    /// `self + m`: `CurrencyMismatch` or `Overflow` (beyond `i64::MAX` micro-units).
    pub fn credit(self, m: Money) -> Result<Balance, MoneyError> {
        check_currency(self.currency, m.currency)?;
        let add = i64::try_from(m.micros).map_err(|_| MoneyError::Overflow)?;
        Ok(Balance {
            micros: self.micros.checked_add(add).ok_or(MoneyError::Overflow)?,
            ..self
        })
    }

    /// `self − m`: `CurrencyMismatch` or `Overflow` (below `i64::MIN` micro-units).
    pub fn debit(self, m: Money) -> Result<Balance, MoneyError> {
        check_currency(self.currency, m.currency)?;
        let sub = i64::try_from(m.micros).map_err(|_| MoneyError::Overflow)?;
        Ok(Balance {
            micros: self.micros.checked_sub(sub).ok_or(MoneyError::Overflow)?,
            ..self
        })
    }
}

impl fmt::Display for Balance {
    /// `USD 1.5`, `USD -0.002`: the sign before the amount, as [`Money`] otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = Money {
            currency: self.currency,
            micros: self.micros.unsigned_abs(),
        };
        if self.micros < 0 {
            let text = abs.to_string();
            let (cur, amount) = text.split_once(' ').unwrap_or((self.currency(), "0"));
            write!(f, "{cur} -{amount}")
        } else {
            write!(f, "{abs}")
        }
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Money, MoneyError> {
        let (cur, amount) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| MoneyError::Syntax(s.to_string()))?;
        let amount = amount.trim();
        let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !(frac.is_empty() || digits(frac)) || amount.ends_with('.') {
            return Err(MoneyError::Syntax(s.to_string()));
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise(s.to_string()));
        }
        let units: u64 = int.parse().map_err(|_| MoneyError::Overflow)?;
        let frac_micros: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse::<u64>()
                .map_err(|_| MoneyError::Syntax(s.to_string()))?
                * 10u64.pow(6 - frac.len() as u32)
        };
        let micros = units
            .checked_mul(MICROS_PER_UNIT)
            .and_then(|m| m.checked_add(frac_micros))
            .ok_or(MoneyError::Overflow)?;
        Money::new(cur, micros)
    }
}

impl fmt::Display for Money {
    /// `USD 0.002`: the shortest decimal that is exact (at least one fractional digit for
    /// amounts below one unit, none for whole amounts: `USD 5`). Written into a stack buffer
    /// and out in one piece, without `core::fmt`'s integer formatting (the gateway writes prices
    /// in every 402 and decision line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "CUR " + up to 20 digits of units + "." + 6 fractional digits.
        let mut buf = [0u8; 31];
        // `currency()` is three bytes of UTF-8 whatever the field holds.
        buf[..3].copy_from_slice(self.currency().as_bytes());
        buf[3] = b' ';
        let mut units = self.micros / MICROS_PER_UNIT;
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (units % 10) as u8;
            units /= 10;
            if units == 0 {
                break;
            }
        }
        let mut len = 4 + digits.len() - start;
        buf[4..len].copy_from_slice(&digits[start..]);
        let mut frac = self.micros % MICROS_PER_UNIT;
        if frac != 0 {
            buf[len] = b'.';
            let mut frac_digits = [b'0'; 6];
            for d in frac_digits.iter_mut().rev() {
                *d = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            // Trailing zeros dropped.
            let kept = 6 - frac_digits.iter().rev().take_while(|&&d| d == b'0').count();
            buf[len + 1..len + 1 + kept].copy_from_slice(&frac_digits[..kept]);
            len += 1 + kept;
        }
        // UTF-8 currency, then ASCII.
        f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloudflare_style_prices_into_micros() {
        assert_eq!("USD 0.002".parse::<Money>().unwrap().micros, 2_000);
        assert_eq!("USD 0.01".parse::<Money>().unwrap().micros, 10_000);
        assert_eq!("EUR 5".parse::<Money>().unwrap().micros, 5_000_000);
        assert_eq!("USD 1.000001".parse::<Money>().unwrap().micros, 1_000_001);
    }

    #[test]
    fn formats_back_to_the_shortest_exact_decimal() {
        for s in [
            "USD 0.002",
            "USD 0.01",
            "EUR 5",
            "USD 1.000001",
            "USD 12.5",
            "USD 0.000001",
            "USD 0.1",
            "USD 100.100001",
            "USD 0.999999",
        ] {
            assert_eq!(s.parse::<Money>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn formats_the_extremes_and_a_bad_currency_without_failing() {
        let m = |micros| Money {
            currency: *b"USD",
            micros,
        };
        assert_eq!(m(0).to_string(), "USD 0");
        assert_eq!(m(u64::MAX).to_string(), "USD 18446744073709.551615");
        assert_eq!(m(10_000_000).to_string(), "USD 10");
        assert_eq!(m(100_000_000_500_000).to_string(), "USD 100000000.5");
        let bad = Money {
            currency: [0xff, b'S', b'D'],
            micros: 2_000,
        };
        assert_eq!(bad.to_string(), "??? 0.002");
        assert_eq!(
            crate::Action::Charge(m(2_000)).to_string(),
            "charge(USD 0.002)"
        );
    }

    #[test]
    fn rejects_bad_prices_with_the_reason() {
        assert!(matches!(
            "0.002".parse::<Money>(),
            Err(MoneyError::Syntax(_))
        ));
        assert!(matches!(
            "usd 0.002".parse::<Money>(),
            Err(MoneyError::Currency(_))
        ));
        assert!(matches!(
            "USD 0.0000001".parse::<Money>(),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            "USD -1".parse::<Money>(),
            Err(MoneyError::Syntax(_))
        ));
        assert!(matches!(
            "USD 1.".parse::<Money>(),
            Err(MoneyError::Syntax(_))
        ));
        assert!(matches!(
            "USD 1e3".parse::<Money>(),
            Err(MoneyError::Syntax(_))
        ));
        assert!(matches!(
            "USD 99999999999999999999".parse::<Money>(),
            Err(MoneyError::Overflow)
        ));
    }

    #[test]
    fn arithmetic_is_checked() {
        let p: Money = "USD 0.002".parse().unwrap();
        assert_eq!(p.times(1_000).unwrap().to_string(), "USD 2");
        assert_eq!(p.times(u64::MAX), Err(MoneyError::Overflow));
        let e: Money = "EUR 1".parse().unwrap();
        assert_eq!(
            p.plus(e),
            Err(MoneyError::CurrencyMismatch("USD".into(), "EUR".into()))
        );
        assert_eq!(p.minus("USD 0.001".parse().unwrap()).unwrap().micros, 1_000);
        assert_eq!(
            p.minus("USD 0.003".parse().unwrap()),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            p.minus(e),
            Err(MoneyError::CurrencyMismatch("USD".into(), "EUR".into()))
        );
    }

    #[test]
    fn balances_go_negative_exactly_and_never_wrap() {
        let b = Balance::zero("USD").unwrap();
        let b = b.debit("USD 1.5".parse().unwrap()).unwrap();
        assert_eq!(b.micros, -1_500_000);
        assert_eq!(b.to_string(), "USD -1.5");
        let b = b.credit("USD 0.000002".parse().unwrap()).unwrap();
        assert_eq!(b.to_string(), "USD -1.499998");
        assert_eq!(Balance::zero("USD").unwrap().to_string(), "USD 0");
        let huge = Money::new("USD", u64::MAX).unwrap();
        assert_eq!(b.credit(huge), Err(MoneyError::Overflow));
        let max = Money::new("USD", i64::MAX as u64).unwrap();
        let top = Balance::zero("USD").unwrap().credit(max).unwrap();
        assert_eq!(
            top.credit(Money::new("USD", 1).unwrap()),
            Err(MoneyError::Overflow)
        );
        let bottom = Balance::zero("USD").unwrap().debit(max).unwrap();
        assert_eq!(
            bottom.debit(Money::new("USD", 2).unwrap()),
            Err(MoneyError::Overflow)
        );
        assert!(matches!(
            b.debit("EUR 1".parse().unwrap()),
            Err(MoneyError::CurrencyMismatch(_, _))
        ));
        assert!(matches!(Balance::zero("usd"), Err(MoneyError::Currency(_))));
    }
}
