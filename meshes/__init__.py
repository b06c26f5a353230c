"""pdeflow.meshes"""
