policy "discount_cap" {
  condition = "campaign.coupon.percent <= 30.0"
  message   = "Discounts over 30% need a pricing review."
}

policy "coupons_expire" {
  condition = "campaign.coupon.valid_until - campaign.coupon.valid_from <= days(92)"
  message   = "A coupon should not run longer than a quarter."
  severity  = "warning"
}
