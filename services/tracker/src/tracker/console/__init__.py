"""The clinic and operations console: pages and their JSON API, served by the tracker."""
