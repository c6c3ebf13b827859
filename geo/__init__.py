"""riskmap domain and analysis: the dual prevention mechanism (双重预防机制) on a map."""
