# Shopify and Square each know a customer by their own customer ID: the engine matches a
# segment's members to each system's customers through these.

identity_source "ec" {
  provider    = provider.shopify.jp
  identifiers = { email = "email", phone = "phone", shop_customer = "customer_id" }
  events      = ["purchase"]
}

identity_source "pos" {
  provider    = provider.square.store
  identifiers = { email = "email", square_customer = "customer_id" }
  events      = ["purchase"]
}

identity {
  priority        = ["shop_customer", "square_customer", "email", "phone"]
  default_country = "JP"
}
