# OMO audiences: the store's regulars get a coupon only they can use, online (Shopify) and at
# the register (Square); customers who signed up but never bought are shown ads (Meta). The
# engine keeps each system's audience in step with the segments. Credentials come from the
# environment (the API URLs only
# when testing against contract servers); see README.md.

musubi {
  currency = "JPY"
  timezone = "Asia/Tokyo"

  backend "local" {
    path = "musubi.state.json"
  }
}

provider "engine" "main" {}

provider "shopify" "jp" {
  shop          = env("SHOPIFY_SHOP")
  token         = env("SHOPIFY_TOKEN")
  api_url       = env("SHOPIFY_API_URL", "https://${env("SHOPIFY_SHOP", "")}")
  client_secret = env("SHOPIFY_CLIENT_SECRET")
  webhook_url   = "https://rules.example.jp/v1/webhooks/shopify.jp"
}

provider "square" "store" {
  token       = env("SQUARE_TOKEN")
  base_url    = env("SQUARE_API_URL", "https://connect.squareup.com")
  timezone    = "Asia/Tokyo"
  webhook_url = "https://rules.example.jp/v1/webhooks/square.store"
}

provider "meta" "ads" {
  ad_account_id = env("META_AD_ACCOUNT")
  access_token  = env("META_TOKEN")
  api_url       = env("META_API_URL", "https://graph.facebook.com")
}
