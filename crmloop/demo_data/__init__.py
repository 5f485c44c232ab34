"""Realistic demo data for crmloop: a Thai appliance retailer's source extracts (see README.md)."""

from crmloop.demo_data.generate import DEALER_HEADERS, DemoSummary, generate

__all__ = ["DEALER_HEADERS", "DemoSummary", "generate"]
