"""_integrations"""
