trait "store_purchases_90d" {
  on        = "purchase"
  where     = "event.channel == 'pos'"
  window    = "90d"
  aggregate = "count"
}

trait "orders_365d" {
  on        = "purchase"
  window    = "365d"
  aggregate = "count"
}

trait "signups_365d" {
  on        = "custom.signup"
  window    = "365d"
  aggregate = "count"
}

segment "loyal_store" {
  description = "Bought in a store twice or more in 90 days"
  condition   = "customer.traits.store_purchases_90d >= 2"
}

segment "low_awareness" {
  description = "Signed up, never bought"
  condition   = "customer.traits.signups_365d > 0 && customer.traits.orders_365d == 0"
}

# Only loyal_store can use the coupon: Shopify checks the customer's musubi:loyal_store tag,
# Square the customer group named after the segment.
campaign "regulars" {
  description = "10% off for store regulars, online and in store"
  coupon {
    title         = "Regulars 10% off"
    percent       = 10
    code          = "REGULARS10"
    audience_only = true
    valid {
      from  = "2027-04-01"
      until = "2027-06-30T23:59:59+09:00"
    }
  }
  audience = segment.loyal_store
  channels = [provider.shopify.jp, provider.square.store]
}

# The seeds: customers who signed up and consented to ads, shown promotions on Facebook and
# Instagram. Only SHA-256 hashes of their email addresses and phone numbers leave Musubi.
audience_export "promo_ads" {
  segment = segment.low_awareness
  to      = [provider.meta.ads]
}
