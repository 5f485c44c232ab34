"""Pools of names, addresses, products and search terms, drawn once per run.

Faker is slow per call, so the generator draws a few thousand values here and then samples
indices into these pools with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker

# Romanised Thai given names and surnames (how people type their names on a web form).
LATIN_FIRST_MALE = [
    "Somchai",
    "Somsak",
    "Anan",
    "Arthit",
    "Boonmee",
    "Chaiwat",
    "Chatchai",
    "Ekkachai",
    "Kittisak",
    "Krit",
    "Narong",
    "Nattapong",
    "Niran",
    "Panya",
    "Pichit",
    "Prasert",
    "Sakda",
    "Somboon",
    "Sombat",
    "Suchart",
    "Surasak",
    "Thanawat",
    "Thawatchai",
    "Wichai",
    "Wirat",
    "Yuthana",
    "Apichat",
    "Chanon",
    "Jirayu",
    "Kasem",
    "Pongsak",
    "Sarawut",
    "Teerapong",
    "Tanakorn",
    "Michael",
    "David",
    "John",
    "Peter",
]
LATIN_FIRST_FEMALE = [
    "Somsri",
    "Suda",
    "Malee",
    "Pranee",
    "Ratana",
    "Siriporn",
    "Sunisa",
    "Wanida",
    "Kanya",
    "Nisa",
    "Pimchanok",
    "Ploy",
    "Achara",
    "Busaba",
    "Chutima",
    "Duangjai",
    "Jintana",
    "Kannika",
    "Kanokwan",
    "Lamai",
    "Nattaya",
    "Orathai",
    "Pornthip",
    "Rungnapa",
    "Saowanee",
    "Supaporn",
    "Thida",
    "Usa",
    "Wilai",
    "Yupin",
    "Arisa",
    "Benjamas",
    "Chompoo",
    "Napat",
    "Sarah",
    "Emily",
    "Anna",
    "Julia",
]
LATIN_LAST = [
    "Saetang",
    "Srisuk",
    "Wongsawat",
    "Chaiyaphum",
    "Boonyarit",
    "Charoenchai",
    "Kaewmanee",
    "Rattanakul",
    "Sukprasert",
    "Thongdee",
    "Jaidee",
    "Phromma",
    "Sirisombat",
    "Suwannarat",
    "Intharasombat",
    "Kongkaew",
    "Mahasarakham",
    "Nakprasit",
    "Pattanapong",
    "Rungroj",
    "Sangthong",
    "Somboonsuk",
    "Tangsiri",
    "Wattanakul",
    "Yodsuwan",
    "Chanthara",
    "Khamsaeng",
    "Lertpanya",
    "Manowong",
    "Noppakun",
    "Ongart",
    "Pimpa",
    "Saelim",
    "Sriwichai",
    "Thammasat",
    "Uthaisang",
    "Vongsa",
    "Wiriyakul",
    "Smith",
    "Brown",
    "Miller",
    "Tanaka",
]
EMAIL_DOMAINS = [
    "gmail.com",
    "hotmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "hotmail.co.th",
    "yahoo.co.th",
    "truemail.co.th",
]
EMAIL_DOMAIN_P = [0.46, 0.2, 0.08, 0.07, 0.05, 0.06, 0.04, 0.04]

OCCUPATIONS_TH = [
    "พนักงานบริษัท",
    "ธุรกิจส่วนตัว",
    "ข้าราชการ",
    "นักศึกษา",
    "แม่บ้าน",
    "เกษียณ",
    "ฟรีแลนซ์",
    "แพทย์",
    "วิศวกร",
    "ครู",
    "ค้าขาย",
    "เกษตรกร",
]
OCCUPATIONS_EN = [
    "Office worker",
    "Business owner",
    "Civil servant",
    "Student",
    "Homemaker",
    "Retired",
    "Freelance",
    "Doctor",
    "Engineer",
    "Teacher",
    "Merchant",
    "Farmer",
]
OCCUPATION_P = np.array([0.3, 0.14, 0.08, 0.08, 0.06, 0.06, 0.07, 0.02, 0.05, 0.04, 0.07, 0.03])

# (category code, Thai name, English name, min price, max price, warranty years, weight)
CATEGORIES = [
    ("tv", "โทรทัศน์", "Smart TV", 5990, 89990, 2, 0.08),
    ("fridge", "ตู้เย็น", "Refrigerator", 6990, 59990, 2, 0.08),
    ("washer", "เครื่องซักผ้า", "Washing machine", 5990, 35990, 2, 0.08),
    ("aircon", "เครื่องปรับอากาศ", "Air conditioner", 9990, 45990, 3, 0.08),
    ("fan", "พัดลม", "Electric fan", 490, 2990, 1, 0.1),
    ("rice_cooker", "หม้อหุงข้าว", "Rice cooker", 690, 4590, 1, 0.1),
    ("microwave", "ไมโครเวฟ", "Microwave", 1990, 8990, 1, 0.08),
    ("vacuum", "เครื่องดูดฝุ่น", "Vacuum cleaner", 1490, 19990, 1, 0.08),
    ("air_purifier", "เครื่องฟอกอากาศ", "Air purifier", 2490, 24990, 1, 0.08),
    ("kettle", "กาต้มน้ำ", "Electric kettle", 390, 1990, 1, 0.08),
    ("accessory", "อุปกรณ์เสริม", "Accessory", 99, 1490, 0, 0.16),
]
BRANDS = [
    "Sharp",
    "Hitachi",
    "Mitsubishi",
    "Toshiba",
    "Samsung",
    "LG",
    "Panasonic",
    "Hatari",
    "Tefal",
    "Philips",
    "Electrolux",
    "Xiaomi",
]

SEARCH_TERMS = [
    "ตู้เย็น 2 ประตู",
    "ทีวี 55 นิ้ว",
    "แอร์ inverter",
    "เครื่องซักผ้าฝาหน้า",
    "พัดลมตั้งพื้น",
    "หม้อหุงข้าว",
    "ไมโครเวฟ",
    "เครื่องดูดฝุ่นไร้สาย",
    "เครื่องฟอกอากาศ pm2.5",
    "กาต้มน้ำไฟฟ้า",
    "โปรโมชั่น",
    "ผ่อน 0%",
    "ลดราคา",
    "ของแถม",
    "ประกันสินค้า",
    "refrigerator",
    "smart tv 65",
    "air conditioner 12000 btu",
    "washing machine",
    "air purifier",
    "robot vacuum",
    "rice cooker",
    "microwave oven",
    "sharp",
    "samsung tv",
    "lg",
    "panasonic",
    "hatari พัดลม",
    "xiaomi",
    "free delivery",
    "installment",
]
TICKET_CATEGORIES = ["warranty_claim", "delivery", "installation", "billing", "product_question", "complaint"]
TICKET_SUBJECTS = {
    "warranty_claim": ["เครื่องเสียในระยะประกัน", "Warranty repair request", "ขอเคลมสินค้า"],
    "delivery": ["สินค้ายังไม่ได้รับ", "Delivery is late", "ขอเลื่อนวันจัดส่ง"],
    "installation": ["นัดติดตั้งแอร์", "Installation appointment", "ช่างติดตั้งไม่มาตามนัด"],
    "billing": ["ขอใบกำกับภาษี", "Refund status", "ตัดบัตรซ้ำ"],
    "product_question": ["สอบถามสเปคสินค้า", "Which model fits my kitchen?", "มีสีอื่นไหม"],
    "complaint": ["พนักงานบริการไม่ดี", "Damaged on arrival", "สินค้าไม่ตรงปก"],
}


@dataclass(frozen=True)
class Pools:
    thai_first_male: list[str]
    thai_first_female: list[str]
    thai_last: list[str]
    street: list[str]
    district: list[str]
    province: list[str]
    postcode: list[str]
    products: dict[str, np.ndarray]  # columns, sorted by price


def draw_pools(seed: int, n_addresses: int = 4000, n_products: int = 360) -> Pools:
    """Draw every pool once, deterministically for the seed."""
    fake = Faker("th_TH")
    fake.seed_instance(seed)
    provider = fake.provider("faker.providers.person")
    male = sorted(set(provider.first_names_male))
    female = sorted(set(provider.first_names_female))
    last = sorted(set(provider.last_names))
    street = [fake.street_address() for _ in range(n_addresses)]
    district = [fake.amphoe() for _ in range(n_addresses)]
    province = [fake.province() for _ in range(n_addresses)]
    postcode = [fake.postcode() for _ in range(n_addresses)]
    # Bangkok is over-represented in a retailer's customer base.
    for i in range(0, n_addresses, 3):
        province[i] = "กรุงเทพมหานคร"
        postcode[i] = "10" + postcode[i][2:]
    return Pools(male, female, last, street, district, province, postcode, _products(seed, n_products))


def _products(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    weights = np.array([c[6] for c in CATEGORIES])
    cat = rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum())
    lo = np.array([c[3] for c in CATEGORIES])[cat]
    hi = np.array([c[4] for c in CATEGORIES])[cat]
    price = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    price = np.maximum(np.round(price / 100) * 100 - 10, 89).astype(np.float64)  # 12,990 style
    brand = rng.integers(0, len(BRANDS), size=n)
    model = rng.integers(100, 9999, size=n)
    order = np.argsort(price, kind="stable")
    ids = np.array([f"SKU{i:05d}" for i in range(10001, 10001 + n)])
    names = np.array(
        [
            f"{BRANDS[b]} {CATEGORIES[c][2]} {CATEGORIES[c][1]} รุ่น {CATEGORIES[c][0][:2].upper()}-{m}"
            for b, c, m in zip(brand, cat, model, strict=True)
        ]
    )
    return {
        "product_id": ids[order],
        "name": names[order],
        "category": np.array([CATEGORIES[c][0] for c in cat])[order],
        "price": price[order],
        "warranty_years": np.array([CATEGORIES[c][5] for c in cat])[order],
    }
