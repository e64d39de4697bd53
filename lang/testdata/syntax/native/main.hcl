# The same programme as ../json/main.hcl.json, in native syntax.

musubi {
  currency = "JPY"
  timezone = "Asia/Tokyo"

  delivery {
    quiet_hours {
      from  = "21:00"
      until = "09:00"
    }
    frequency_cap "line" {
      max = 3
      per = "7d"
    }
  }
}

provider "line" "oa" {
  channel = "main"
}

provider "shopify" "jp" {
  shop = "example.myshopify.com"
}

variable "percent" {
  type    = number
  default = 15

  validation {
    condition     = var.percent > 0 && var.percent <= 50
    error_message = "Between 1 and 50."
  }
}

locals {
  threshold = var.percent >= 20 ? 5000 : 3000
}

output "threshold" {
  value = local.threshold
}

trait "spend_90d" {
  on        = "purchase"
  where     = "event.channel == 'pos'"
  window    = "90d"
  aggregate = "sum"
  value     = "event.total"
}

segment "big" {
  description = "Big spenders"
  condition   = "customer.traits.spend_90d >= ${local.threshold} * 10"
}

segment "big_online" {
  condition = "customer.segments.big && customer.consent.email"
}

campaign "spring" {
  description = "Spring"

  coupon {
    title   = "Spring ${var.percent}% off"
    percent = var.percent
    code    = "SPRING"
    valid {
      from  = "2027-03-01"
      until = "2027-03-31"
    }
  }

  audience = segment.big
  channels = [provider.shopify.jp]

  message {
    via      = provider.line.oa
    template = "{{ customer.home_city }}: ${var.percent}% off with {{ code }}"
    variant "formal" {
      when     = "customer.tone == 'formal'"
      template = "Dear customer: {{ code }}"
    }
  }
}

trigger "nudge" {
  on        = "cart.updated"
  condition = "event.cart.total < ${local.threshold}"
  cooldown  = "24h"

  action "send" {
    via      = provider.line.oa
    template = "{{ ${local.threshold} - event.cart.total }} to go"
  }
  action "emit" {
    event = "custom.nudged"
    data  = { total = "event.cart.total" }
  }
}

policy "cap" {
  condition = "campaign.coupon.percent <= 30.0"
  message   = "Too generous."
  severity  = "warning"
}
