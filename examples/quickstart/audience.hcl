trait "store_purchases_90d" {
  on        = "purchase"
  where     = "event.channel == 'pos'"
  window    = "90d"
  aggregate = "count"
}

trait "spend_90d" {
  on        = "purchase"
  window    = "90d"
  aggregate = "sum"
  value     = "event.total"
}

segment "loyal_store" {
  description = "Store regulars who agreed to LINE messages."
  condition   = "customer.traits.store_purchases_90d >= 1 && customer.consent.line"
}

segment "big_spenders" {
  description = "Spent ¥30,000 or more in 90 days, online and in store."
  condition   = "customer.traits.spend_90d >= 30000"
}
