"""The engine: models, drafters, verification, the decode loop, events and stats. No UI code here."""
