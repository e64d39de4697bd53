# Scenarios of the quickstart's traits, segments and spring campaign (docs/testing.md).

customer "hanako" {
  identifiers = { phone = "090-1234-5678", line_user = "U4af4980629" }
  consent     = { line = true }
}

customer "ken" {
  identifiers = { email = "ken@example.jp" }
}

run "one store purchase with LINE consent makes a store regular" {
  expect {
    customer "hanako" {
      not_in = [segment.loyal_store, segment.big_spenders]
    }
  }

  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }

    expect {
      entered = [segment.loyal_store]
    }
  }

  expect {
    customer "hanako" {
      in     = [segment.loyal_store]
      not_in = [segment.big_spenders]
      traits = { store_purchases_90d = 1, spend_90d = 3200 }
    }
  }
}

run "online purchases count toward spend, not toward store visits" {
  event "purchase" {
    customer = customer.ken
    channel  = "ec"
    data     = { order_id = "W-1", total = 18000, currency = "JPY" }
  }

  event "purchase" {
    customer = customer.ken
    channel  = "ec"
    at       = "+3d"
    data     = { order_id = "W-2", total = 12000, currency = "JPY" }

    expect {
      entered = [segment.big_spenders]
    }
  }

  expect {
    customer "ken" {
      in     = [segment.big_spenders]
      not_in = [segment.loyal_store]
      traits = { store_purchases_90d = 0, spend_90d = 30000 }
    }
  }

  # Ninety days after the first order, only the second counts.
  advance "+88d" {}

  event "purchase" {
    customer = customer.ken
    channel  = "ec"
    data     = { order_id = "W-3", total = 100, currency = "JPY" }

    expect {
      exited = [segment.big_spenders]
    }
  }

  expect {
    customer "ken" {
      not_in = [segment.big_spenders]
      traits = { spend_90d = 12100 }
    }
  }
}

run "unfollowing on LINE leaves the store regulars" {
  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }
  }

  event "unfollow" {
    customer = customer.hanako
    channel  = "line"
    at       = "+1d"
    data     = { account = "sandbox.line" }

    expect {
      exited = [segment.loyal_store]
    }
  }

  expect {
    customer "hanako" {
      not_in  = [segment.loyal_store]
      consent = { line = false }
    }
  }
}

run "a regular who joins during the spring sale gets the campaign message" {
  now = "2027-03-02T12:00:00"

  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }
  }

  expect {
    message {
      campaign = campaign.spring
      customer = customer.hanako
      contains = "春のセール: 10%オフクーポン SPR-"
      count    = 1
    }
    message {
      trigger = trigger.welcome_regular
      count   = 1
    }
    # The campaign message and the welcome give the one code the customer has.
    code {
      campaign = campaign.spring
      customer = customer.hanako
      count    = 1
    }
  }
}

run "regulars from before the sale get its message when it starts" {
  now = "2027-02-27T12:00:00"

  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }
  }

  expect {
    message {
      campaign = campaign.spring
      count    = 0
    }
  }

  advance "2027-03-01T10:00:00" {}

  expect {
    message {
      campaign = campaign.spring
      customer = customer.hanako
      status   = "queued"
      count    = 1
    }
  }
}
