"""pdeflow.datagen"""
