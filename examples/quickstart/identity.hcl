# Where customer identifiers come from, and how they tie into one customer.

identity_source "ec" {
  provider    = provider.sandbox.ec
  identifiers = { email = "email", phone = "phone", ec_id = "customer_id" }
}

identity_source "pos" {
  provider    = provider.sandbox.pos
  identifiers = { phone = "phone_number", member = "member_code" }
}

identity_source "line" {
  provider    = provider.sandbox.line
  identifiers = { line_user = "userId", phone = "phone" }
}

identity {
  priority        = ["member", "ec_id", "email", "phone", "line_user"]
  default_country = "JP"

  limit "member" {
    max = 1
  }
  limit "ec_id" {
    max = 1
  }

  # Shared and placeholder values must never merge two people.
  blocked "email" {
    pattern = "^(test|noreply)@"
  }
  blocked "phone" {
    values = ["+810000000000"]
  }
}
