# BasicSR does not scan metrics: each metric module is imported explicitly.
