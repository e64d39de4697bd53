campaign "spring" {
  description = "Spring sale: one offer online and at every register."

  coupon {
    title     = "Spring ${var.spring_percent}% off"
    percent   = var.spring_percent
    min_total = var.nudge_threshold
    codes {
      pattern = "SPR-####-####"
      count   = 500
    }
    limits {
      per_customer = 1
    }
    valid {
      from  = "2027-03-01"
      until = "2027-03-31T23:59:59+09:00"
    }
  }

  audience = segment.loyal_store
  channels = [provider.sandbox.ec, provider.sandbox.pos]

  message {
    via      = provider.sandbox.line
    template = file("messages/spring.txt")
  }
}
