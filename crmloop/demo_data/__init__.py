"""Realistic demo data for crmloop: a Thai appliance retailer's source extracts (see README.md).

`generate.generate` writes the landing zone; `simulated_customers` answers the sends of a run.
"""
