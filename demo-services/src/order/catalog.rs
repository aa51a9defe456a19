//! A small product catalog with realistic prices, and a deterministic order generator, so
//! scenarios and benchmarks produce believable orders. About 45% of the catalog prices hit
//! the payment v1 bug, which is the share the workshop wants stuck until the fix is deployed.
//!
//! [`hits_v1_bug`] pins the bug as the `v1-bugged` image ships it, apart from the payment
//! source: an attendee's fix there changes the service, not which orders a scenario picks to
//! show it. The payment crate's `v1_bug_*` tests check that the two agree.

use crate::money::{self, Currency};

/// One product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub sku: &'static str,
    /// Unit price in EUR, as shown in the shop.
    pub price: &'static str,
}

pub const CATALOG: &[Item] = &[
    Item { sku: "mug", price: "12.99" },
    Item { sku: "t-shirt", price: "19.99" },
    Item { sku: "hoodie", price: "49.95" },
    Item { sku: "backpack", price: "100.00" },
    Item { sku: "stickers", price: "4.95" },
    Item { sku: "cap", price: "24.50" },
    Item { sku: "notebook", price: "9.99" },
    Item { sku: "socks", price: "14.49" },
    Item { sku: "poster", price: "29.99" },
    Item { sku: "keyboard", price: "79.99" },
    Item { sku: "desk-lamp", price: "59.90" },
    Item { sku: "pen", price: "1.15" },
    Item { sku: "bottle", price: "17.95" },
    Item { sku: "headphones", price: "149.00" },
    Item { sku: "charger", price: "34.99" },
    Item { sku: "mousepad", price: "8.49" },
    Item { sku: "umbrella", price: "22.95" },
    Item { sku: "book", price: "39.99" },
    Item { sku: "scarf", price: "27.45" },
    Item { sku: "jacket", price: "129.95" },
];

const EUR: Currency = Currency { code: "EUR", exponent: 2 };

/// Exact total of `quantity` items at `price`, as a decimal string (`"39.98"`).
pub fn total(price: &str, quantity: u32) -> Option<String> {
    let unit = money::parse_minor(price, EUR).ok()?;
    Some(money::format_minor(unit.checked_mul(i64::from(quantity))?, EUR))
}

/// Whether the payment build shipped as `v1-bugged` fails to charge `amount` EUR: it turns
/// the amount into cents through a float and truncates, so 19.99 becomes 1998.
pub fn hits_v1_bug(amount: &str) -> bool {
    let (Ok(exact), Ok(value)) = (money::parse_minor(amount, EUR), amount.trim().parse::<f64>()) else {
        return false;
    };
    let scale = EUR.scale();
    let shipped = value.trunc() as i64 * scale + (value.fract() * scale as f64) as i64;
    shipped != exact
}

/// The `n`-th order of a deterministic stream: `(sku, quantity, amount)`. The quantity is
/// mostly 1, sometimes 2 or 3, so amounts vary beyond the list prices.
pub fn sample(n: u64) -> (&'static str, u32, String) {
    // splitmix64: a fixed, well-mixed sequence without a random number crate.
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let item = CATALOG[(z % CATALOG.len() as u64) as usize];
    let quantity = match (z >> 32) % 6 {
        0 => 2,
        1 => 3,
        _ => 1,
    };
    let amount = total(item.price, quantity).unwrap_or_else(|| item.price.to_string());
    (item.sku, quantity, amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_exact() {
        assert_eq!(total("19.99", 3).as_deref(), Some("59.97"));
        assert_eq!(total("0.10", 3).as_deref(), Some("0.30"));
    }

    #[test]
    fn the_shipped_bug_hits_a_good_share_of_sampled_orders() {
        let n = 1000;
        let hit = (0..n).filter(|i| hits_v1_bug(&sample(*i).2)).count();
        assert!((300..=600).contains(&hit), "{hit} of {n} sampled orders hit the v1 bug");
        assert_eq!(sample(7), sample(7));
    }
}
