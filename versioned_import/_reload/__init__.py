"""_reload"""
