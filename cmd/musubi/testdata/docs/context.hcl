# Stand-ins for what the documentation's examples take for granted, added to an example only
# when it refers to them and its page declares them nowhere (see docs_test.go).

provider "shopify" "jp" {
  shop  = "example.myshopify.com"
  token = env("SHOPIFY_TOKEN")
}

provider "square" "store" {
  token = env("SQUARE_TOKEN")
}

provider "smaregi" "store" {
  contract_id   = "smaregi-contract"
  client_id     = "client"
  client_secret = env("SMAREGI_CLIENT_SECRET")
}

provider "line" "oa" {
  channel_token  = env("LINE_TOKEN")
  channel_secret = env("LINE_SECRET")
}

provider "wechat" "oa" {
  app_id     = "wx0123456789abcdef"
  app_secret = env("WECHAT_APP_SECRET")
}

provider "email" "news" {
  transport = "sendgrid"
  api_key   = env("SENDGRID_API_KEY")
  from      = "news@example.jp"
}

trait "store_purchases_90d" {
  on        = "purchase"
  where     = "event.channel == 'pos'"
  window    = "90d"
  aggregate = "count"
}

segment "loyal_store" {
  condition = "customer.traits.store_purchases_90d >= 3 && customer.consent.line"
}

provider "meta" "ads" {
  ad_account_id = "act_1234567890"
  access_token  = env("META_ACCESS_TOKEN")
}

trait "orders_365d" {
  on        = "purchase"
  window    = "365d"
  aggregate = "count"
}

segment "loyal" {
  condition = "customer.traits.orders_365d >= 3"
}

# Campaigns whose codes triggers give out one at a time.
campaign "thanks" {
  coupon {
    amount = 500
    codes {
      pattern = "THX-####-####"
      count   = 1000
    }
  }
  channels = [provider.shopify.jp]
}

campaign "vending" {
  coupon {
    percent   = 10
    valid_for = "14d"
    codes {
      pattern = "VND-####-####"
      count   = 1000
    }
  }
  channels = [provider.shopify.jp]
}

campaign "pickup" {
  coupon {
    percent = 5
    codes {
      pattern = "PCK-####-####"
      count   = 1000
    }
  }
  channels = [provider.shopify.jp]
}

campaign "spring" {
  coupon {
    percent = 10
    codes {
      pattern = "SPR-####-####"
      count   = 5000
    }
  }
  audience = segment.loyal_store
  channels = [provider.shopify.jp]
}
