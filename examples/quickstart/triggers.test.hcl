# Scenarios of the quickstart's triggers: run them with `musubi test` (docs/testing.md).

customer "hanako" {
  identifiers = { phone = "090-1234-5678", line_user = "U4af4980629" }
}

customer "taro" {
  identifiers = { line_user = "U7b1c2d3e4f" }
  consent     = { line = true }
}

run "a store regular who follows on LINE gets one spring code" {
  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    store_id = "shibuya"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }

    expect {
      not_fired = [trigger.welcome_regular]
    }
  }

  event "follow" {
    id       = "line-1"
    customer = customer.hanako
    channel  = "line"
    at       = "+2h"
    data     = { account = "sandbox.line" }

    expect {
      entered = [segment.loyal_store]
      fired   = [trigger.welcome_regular]
    }
  }

  expect {
    message {
      trigger  = trigger.welcome_regular
      customer = customer.hanako
      via      = provider.sandbox.line
      status   = "queued"
      contains = "春の10%オフクーポン: SPR-"
      count    = 1
    }
    code {
      campaign = campaign.spring
      customer = customer.hanako
      count    = 1
    }
  }

  # The same follow delivered again is a duplicate: no second code.
  event "follow" {
    id       = "line-1"
    customer = customer.hanako
    channel  = "line"
    data     = { account = "sandbox.line" }

    expect {
      duplicate = true
    }
  }

  expect {
    code {
      campaign = campaign.spring
      count    = 1
    }
  }
}

run "a follower who never bought in store gets no welcome" {
  event "follow" {
    customer = customer.taro
    channel  = "line"
    data     = { account = "sandbox.line" }
  }

  expect {
    not_fired = [trigger.welcome_regular]
    customer "taro" {
      not_in  = [segment.loyal_store]
      consent = { line = true }
    }
    message {
      count = 0
    }
  }
}

run "a cart just short of the threshold is nudged once a day" {
  event "cart.updated" {
    customer = customer.taro
    data     = { cart = { total = 2850, currency = "JPY" } }

    expect {
      fired = [trigger.cart_nudge]
    }
  }

  event "cart.updated" {
    customer = customer.taro
    at       = "+1h"
    data     = { cart = { total = 2900, currency = "JPY" } }

    expect {
      not_fired = [trigger.cart_nudge]
    }
  }

  expect {
    message {
      trigger  = trigger.cart_nudge
      customer = customer.taro
      contains = "あと150円で10%オフになります。"
      count    = 1
    }
  }

  # A day later the cooldown is over.
  event "cart.updated" {
    customer = customer.taro
    at       = "+1d"
    data     = { cart = { total = 2900, currency = "JPY" } }

    expect {
      fired = [trigger.cart_nudge]
    }
  }

  expect {
    message {
      trigger  = trigger.cart_nudge
      contains = "あと100円"
      count    = 1
    }
  }
}

run "a cart far from the threshold, or over it, is not nudged" {
  event "cart.updated" {
    customer = customer.taro
    data     = { cart = { total = 1500, currency = "JPY" } }
  }

  event "cart.updated" {
    customer = customer.taro
    at       = "+1m"
    data     = { cart = { total = 3000, currency = "JPY" } }
  }

  expect {
    not_fired = [trigger.cart_nudge]
  }
}

run "a nudge in the quiet hours is held until the morning" {
  now = "2027-01-01T22:30:00"

  event "cart.updated" {
    customer = customer.taro
    data     = { cart = { total = 2850, currency = "JPY" } }

    expect {
      fired = [trigger.cart_nudge]
    }
  }

  expect {
    message {
      trigger = trigger.cart_nudge
      status  = "held"
      count   = 1
    }
  }

  advance "2027-01-02T09:00:00" {}

  expect {
    message {
      trigger = trigger.cart_nudge
      status  = "queued"
      count   = 1
    }
  }
}

run "at a self-checkout, the decision says what the cart lacks" {
  now = "2027-03-02T12:00:00"

  event "purchase" {
    customer = customer.hanako
    source   = "pos"
    channel  = "pos"
    data     = { order_id = "T-1", total = 3200, currency = "JPY" }
  }
  event "follow" {
    customer = customer.hanako
    channel  = "line"
    data     = { account = "sandbox.line" }
  }

  decide "cart.updated" {
    customer = customer.hanako
    data     = { cart = { total = 2850, currency = "JPY" } }

    expect {
      fired = [trigger.cart_nudge]
      action {
        trigger  = trigger.cart_nudge
        status   = "would_send"
        contains = "あと150円"
      }
      offer "spring" {
        eligible  = false
        remaining = 150
      }
    }
  }

  # A decision changes nothing: no message, no cooldown.
  expect {
    message {
      trigger = trigger.cart_nudge
      count   = 0
    }
  }

  event "cart.updated" {
    customer = customer.hanako
    data     = { cart = { total = 2850, currency = "JPY" } }

    expect {
      fired = [trigger.cart_nudge]
    }
  }
}
