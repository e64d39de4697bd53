# Quickstart: a small OMO programme on the embedded sandbox — simulated EC, POS and
# messaging systems in one local file. No credentials, no servers.

musubi {
  currency = "JPY"
  timezone = "Asia/Tokyo"

  backend "local" {
    path = "musubi.state.json"
  }

  delivery {
    quiet_hours {
      from  = "21:00"
      until = "09:00"
    }
    frequency_cap "sandbox" {
      max = 3
      per = "7d"
    }
  }
}

provider "sandbox" "ec" {
  system = "ec"
}

provider "sandbox" "pos" {
  system = "pos"
}

provider "sandbox" "line" {
  system = "messaging"
}

variable "spring_percent" {
  type        = number
  default     = 10
  description = "Spring sale discount, in percent."

  validation {
    condition     = var.spring_percent > 0 && var.spring_percent <= 50
    error_message = "The spring discount is between 1 and 50 percent."
  }
}

variable "nudge_threshold" {
  type        = number
  default     = 3000
  description = "Cart total (yen) that unlocks the spring discount."
}

# Musubi's rules engine: apply writes the programme's rule bundle into .musubi/engine.db,
# where `musubi serve` runs it on live events.
provider "engine" "main" {}
