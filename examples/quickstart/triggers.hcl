# Welcome a new LINE follower who is already a store regular with a personal code.
trigger "welcome_regular" {
  on        = "segment.entered"
  condition = "event.segment == 'loyal_store'"

  action "issue_coupon" {
    campaign = campaign.spring
    via      = provider.sandbox.line
    template = "いつもご来店ありがとうございます。春の${var.spring_percent}%オフクーポン: {{ code }}"
  }
}

# "Spend ¥200 more for the discount" at the self-checkout.
trigger "cart_nudge" {
  on        = "cart.updated"
  condition = "event.cart.total < ${var.nudge_threshold} && ${var.nudge_threshold} - event.cart.total <= 200"
  cooldown  = "24h"

  action "send" {
    via      = provider.sandbox.line
    template = "あと{{ ${var.nudge_threshold} - event.cart.total }}円で${var.spring_percent}%オフになります。"
  }
}
