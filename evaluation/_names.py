"""Name and place lists of eight naming traditions, written for the synthetic generator.

Each list is ordered from most to least common; :func:`evaluation._spelling` turns ranks into
Zipf-like frequencies. The lists are invented from general knowledge of the traditions, not
taken from any register. Where a tradition has no family name (Somali, Tigrinya, Rohingya and
many Afghan registrations), registration systems put the grandfather's given name in the
family-name slot; ``PATRONYMIC_SHARE`` says how often the generator does so.

Transliteration groups (``GROUPS``) list the common Latin spellings of one name with relative
weights, the first spelling being the usual one. A group under a tradition's key applies to
that tradition only and takes precedence over an ``any`` group holding the same spelling.
Syntax: groups separated by ``;``, spellings by ``,``, each spelling followed by ``=weight``.
"""

from __future__ import annotations

__all__ = ["COMPOUND_SHARE", "GROUPS", "LISTS", "PATRONYMIC_SHARE", "TRADITIONS"]

TRADITIONS: tuple[str, ...] = (
    "arabic",
    "dari_pashto",
    "somali",
    "tigrinya",
    "ukrainian",
    "spanish",
    "french_africa",
    "rohingya",
)

# Share of people whose family-name slot holds their grandfather's given name.
PATRONYMIC_SHARE: dict[str, float] = {
    "arabic": 0.2,
    "dari_pashto": 0.5,
    "somali": 1.0,
    "tigrinya": 1.0,
    "ukrainian": 0.0,
    "spanish": 0.0,
    "french_africa": 0.0,
    "rohingya": 1.0,
}
# Share of people with two surnames (paternal, maternal) in the family-name slot.
COMPOUND_SHARE: dict[str, float] = {"spanish": 0.75}

LISTS: dict[str, dict[str, str]] = {
    "arabic": {
        "given_male": """Mohammed, Ahmed, Ali, Mahmoud, Omar, Hussein, Khaled, Mustafa, Abdullah,
            Ibrahim, Hassan, Yusuf, Abdulrahman, Hamza, Bilal, Khalil, Walid, Samir, Tariq, Jamal,
            Adel, Nabil, Faisal, Salah, Osama, Ismail, Anas, Ayman, Yasser, Ziad, Rami, Fadi,
            Majed, Bashar, Sami, Haidar, Abbas, Jaafar, Karar, Mortada, Qasim, Sajjad, Hamid,
            Idris, Musa, Issa, Suleiman, Saleh, Nasser, Amjad, Louay, Firas, Wissam, Raed, Mazen,
            Munir, Osman, Babiker, Hashim, Yahya, Abdelaziz, Awad, Elfatih, Elsadig, Abdelmoneim,
            Mutasim, Taha, Anwar, Ammar, Hadi""",
        "given_female": """Fatima, Aisha, Maryam, Zainab, Amina, Noor, Hala, Rana, Layla, Huda,
            Sara, Reem, Hiba, Asmaa, Samira, Khadija, Rania, Dalia, Yasmin, Lina, Rasha, Suha,
            Nada, Ghada, Maha, Wafaa, Hanan, Iman, Salma, Zahra, Raghad, Shahad, Doaa, Rahaf,
            Haneen, Bayan, Malak, Jana, Ruqaya, Sumaya, Hawa, Nafisa, Awatif, Ikhlas, Suad, Amal,
            Widad, Nisreen, Ola, Abeer, Mona, Najwa, Safaa, Rabab, Halima, Manal, Sawsan, Hind""",
        "family": """Al-Hassan, Al-Ahmad, Haddad, Khalil, Al-Ali, Hussein, Saleh, Ibrahim,
            Al-Khatib, Abdullah, Mahmoud, Othman, Al-Masri, Darwish, Najjar, Hamdan, Al-Obaidi,
            Al-Jubouri, Al-Dulaimi, Al-Tamimi, Al-Saadi, Al-Rubaie, Al-Shammari, Al-Zubaidi,
            Al-Hashimi, Al-Husseini, Qasim, Yassin, Nasser, Suleiman, Mansour, Kanaan, Shaheen,
            Sabbagh, Halabi, Homsi, Hamwi, Al-Issa, Al-Hamad, Al-Khalaf, Al-Mohammed, Osman,
            Adam, Elamin, Babiker, Abdelrahman, Idris, Al-Bashir, Hamad, Al-Nour, Aziz, Jaber,
            Kurdi, Sweid, Ghanem, Zaher, Bakri, Hijazi, Khoury, Shukri""",
        "place": """Aleppo, Damascus, Homs, Hama, Idlib, Daraa, Deir ez-Zor, Raqqa, Latakia,
            Mosul, Baghdad, Basra, Fallujah, Ramadi, Tikrit, Sinjar, Kirkuk, Khartoum, Omdurman,
            El Fasher, Nyala, El Geneina, Zalingei, Kassala, Zaatari Camp, Azraq Camp, Irbid,
            Mafraq, Beirut, Akkar, Bekaa, Domiz Camp, Qamishli, Kobani""",
    },
    "dari_pashto": {
        "given_male": """Mohammad, Ahmad, Abdul, Ali, Gul, Hamid, Karim, Rahim, Najib, Farid,
            Wahid, Sayed, Hayatullah, Zabihullah, Naqibullah, Ezatullah, Rahmatullah, Hekmatullah,
            Samiullah, Abdullah, Mirwais, Ahmad Shah, Nasir, Jawad, Habib, Javed, Qadir, Bashir,
            Omid, Mustafa, Yousuf, Hussain, Reza, Mahdi, Aziz, Rashid, Shafiq, Faridoon, Zalmai,
            Wali, Nabi, Noor Mohammad, Gul Ahmad, Sher Ali, Zia, Haroon, Bilal, Ismail, Khalil,
            Sohrab, Hasibullah, Ajmal, Masood, Fawad, Jamshid, Nazir, Amanullah, Ibrahim, Hassan,
            Qasim""",
        "given_female": """Fatima, Zahra, Maryam, Parwana, Nazia, Shabana, Gulalai, Malalai,
            Freshta, Farzana, Nasrin, Zarghona, Sima, Roya, Laila, Mahbooba, Shukria, Nargis,
            Marzia, Hakima, Sakina, Masooma, Zainab, Halima, Bibi Gul, Nafisa, Soraya, Storay,
            Palwasha, Mursal, Homa, Tahmina, Shakila, Nadia, Khadija, Aziza, Rabia, Razia,
            Sultana, Najiba, Fariba, Shirin, Mina, Hadia, Somaya, Bahara, Benazir, Zakia, Wahida,
            Anisa, Sharifa, Latifa, Gulnaz, Khatera, Arezo, Madina, Nilofar, Lida, Hasina""",
        "family": """Ahmadzai, Popal, Stanekzai, Wardak, Hotak, Safi, Mohammadi, Hashimi,
            Rahimi, Sultani, Noori, Amiri, Haidari, Rezaie, Hussaini, Sadat, Jalali, Azizi,
            Karimi, Nazari, Sharifi, Akbari, Ahmadi, Habibi, Hakimi, Faizi, Qaderi, Naseri,
            Rasuli, Yousufzai, Mangal, Zadran, Achakzai, Barakzai, Durrani, Popalzai, Niazi,
            Kakar, Shinwari, Mohmand, Afridi, Samadi, Rahmani, Kohistani, Jafari, Mousavi, Nadiri,
            Alizai, Taniwal, Sahak, Hamidi, Nuristani, Panjshiri, Andarabi, Totakhil, Mohseni,
            Yaqubi, Osmani, Qarizada""",
        "place": """Kabul, Herat, Kandahar, Mazar-i-Sharif, Jalalabad, Kunduz, Ghazni, Bamyan,
            Lashkar Gah, Khost, Gardez, Pul-e-Khumri, Maimana, Taloqan, Faizabad, Charikar,
            Mahmud-Raqi, Maidan Shahr, Pul-e-Alam, Nili, Chaghcharan, Farah, Zaranj, Tarinkot,
            Qalat, Sheberghan, Asadabad, Peshawar, Quetta, Mashhad, Tehran""",
    },
    "somali": {
        "given_male": """Mohamed, Abdi, Ahmed, Ali, Hassan, Abdullahi, Omar, Ibrahim, Yusuf,
            Abdirahman, Hussein, Ismail, Osman, Abdirashid, Abdikarim, Abdiaziz, Farah, Aden,
            Said, Mahad, Mustafa, Nur, Jama, Warsame, Dahir, Hirsi, Musse, Abdiqani, Abdinasir,
            Abdiwali, Bashir, Liban, Guled, Khalid, Salah, Sharif, Isse, Elmi, Awil, Yasin,
            Mukhtar, Abdulkadir, Siad, Abshir, Sahal, Hamza, Bile, Geedi, Hashi, Gure, Samatar,
            Kahin, Duale, Egal, Barre, Shire, Ugas, Qorane, Wardhere, Adam""",
        "given_female": """Fatuma, Amina, Hawa, Halima, Asha, Khadija, Maryan, Sahra, Hodan,
            Nasra, Ifrah, Ayan, Sagal, Hibo, Ubah, Deeqa, Hamdi, Fardowsa, Nimco, Sadia, Ruqia,
            Safiya, Zamzam, Istar, Shukri, Farhiya, Ikran, Idil, Najma, Suad, Anab, Ebyan, Filsan,
            Hinda, Kaltun, Layla, Muna, Naima, Qamar, Ramla, Saida, Samira, Sumaya, Yasmin,
            Zeynab, Lul, Bilan, Dahabo, Ardo, Habiba, Hafsa, Sucdi, Hamdiya, Nafiso, Ugbaad,
            Amran, Fowsia, Shamsa, Rahma""",
        "family": "",
        "place": """Mogadishu, Kismayo, Baidoa, Beledweyne, Galkayo, Bosaso, Hargeisa, Burao,
            Garowe, Afgooye, Marka, Jowhar, Dhusamareb, Luuq, Bardhere, Dollow, Dadaab, Kakuma,
            Dolo Ado, Kobe Camp, Hagadera, Ifo, Dagahaley, Jijiga, Bulo Burte, Las Anod, Erigavo,
            Berbera""",
    },
    "tigrinya": {
        "given_male": """Tesfay, Yonas, Daniel, Samuel, Michael, Tesfalem, Yohannes, Berhane,
            Haile, Kidane, Mehari, Tekle, Gebremedhin, Tewolde, Habte, Fitsum, Filmon, Biniam,
            Robel, Semere, Senai, Amanuel, Dawit, Henok, Merhawi, Mulugeta, Negasi, Okbay, Russom,
            Solomon, Tedros, Teklay, Tsegay, Weldu, Woldemichael, Yemane, Zerai, Abraham, Aron,
            Efrem, Eyob, Goitom, Hagos, Isaias, Kibrom, Mebrahtu, Measho, Mussie, Natnael, Petros,
            Simon, Temesgen, Tekie, Abel, Ermias, Gebre, Ghirmay, Hailemariam, Asmerom, Berhe,
            Nahom, Ghebreyesus, Tesfamariam""",
        "given_female": """Helen, Senait, Selam, Mebrat, Lidia, Ruth, Saba, Hiwet, Freweyni,
            Mihret, Rahel, Yordanos, Eden, Tsega, Letekidan, Almaz, Tsehay, Hanna, Ksanet, Meron,
            Feven, Winta, Semhar, Luwam, Elsa, Abeba, Aster, Azieb, Birikti, Genet, Hirut,
            Kidisti, Lemlem, Milen, Nebiat, Rigbe, Sara, Simret, Tirhas, Tsigereda, Weini, Yohana,
            Zewdi, Salina, Rosina, Akberet, Medhanit, Nigisti, Selamawit, Haben, Danait, Elilta,
            Fiyori, Yodit, Sabrina, Bisrat, Mana""",
        "family": "",
        "place": """Asmara, Keren, Mendefera, Adi Keyh, Dekemhare, Barentu, Massawa, Adi Quala,
            Senafe, Teseney, Ghinda, Segeneiti, Areza, Tsorona, Akordat, Shire, Mai Aini,
            Adi Harush, Hitsats, Shimelba, Shagarab, Kassala, Khartoum, Addis Ababa, Mekelle""",
    },
    "ukrainian": {
        "given_male": """Oleksandr, Serhii, Andrii, Volodymyr, Dmytro, Mykola, Oleksii, Ivan,
            Yurii, Viktor, Vasyl, Mykhailo, Petro, Ihor, Vitalii, Maksym, Bohdan, Artem, Denys,
            Roman, Taras, Yaroslav, Pavlo, Anatolii, Ruslan, Vadym, Oleh, Valerii, Stepan,
            Hryhorii, Yevhen, Kostiantyn, Anton, Illia, Nazar, Danylo, Kyrylo, Matvii, Tymofii,
            Vladyslav, Borys, Leonid, Fedir, Semen, Zakhar, Rostyslav, Sviatoslav, Orest, Marko,
            Yosyp, Arsenii, Yehor, Mykyta, Heorhii, Valentyn""",
        "given_female": """Olena, Nataliia, Tetiana, Iryna, Oksana, Svitlana, Yuliia, Olha,
            Mariia, Kateryna, Liudmyla, Halyna, Anna, Valentyna, Nadiia, Viktoriia, Anastasiia,
            Larysa, Inna, Alla, Liubov, Zoia, Vira, Daria, Sofiia, Polina, Khrystyna, Alina,
            Diana, Yana, Oleksandra, Ivanna, Myroslava, Solomiia, Zlata, Veronika, Marta, Lesia,
            Hanna, Raisa, Nina, Tamara, Lilia, Yevheniia, Ulyana, Karina, Vladyslava, Bohdana,
            Maryna, Antonina""",
        "family": """Melnyk, Shevchenko, Kovalenko, Bondarenko, Boiko, Tkachenko, Kravchenko,
            Kovalchuk, Koval, Oliinyk, Shevchuk, Polishchuk, Tkachuk, Savchenko, Bondar,
            Marchenko, Rudenko, Moroz, Lysenko, Petrenko, Klymenko, Pavlenko, Kravchuk, Kuzmenko,
            Ponomarenko, Savchuk, Vasylenko, Levchenko, Kharchenko, Karpenko, Sydorenko,
            Havryliuk, Hrytsenko, Romanenko, Yakovenko, Mazur, Kushnir, Ostapenko, Kozak,
            Zakharchenko, Onyshchenko, Fedorenko, Panchenko, Kostenko, Vlasenko, Ivanenko,
            Semenko, Honcharenko, Lytvynenko, Nazarenko, Prykhodko, Holub, Demchenko, Bilyk,
            Zinchenko, Chernenko, Hnatiuk, Yurchenko, Ivanov""",
        "place": """Kyiv, Kharkiv, Odesa, Dnipro, Donetsk, Zaporizhzhia, Lviv, Mykolaiv,
            Mariupol, Luhansk, Kherson, Poltava, Chernihiv, Cherkasy, Sumy, Zhytomyr, Vinnytsia,
            Kramatorsk, Sloviansk, Bakhmut, Melitopol, Berdiansk, Kryvyi Rih, Ivano-Frankivsk,
            Ternopil, Rivne, Lutsk, Uzhhorod, Chernivtsi, Kropyvnytskyi, Irpin, Bucha, Izium,
            Sievierodonetsk""",
    },
    "spanish": {
        "given_male": """José, Juan, Luis, Carlos, Jorge, Miguel, Jesús, Pedro, Antonio,
            Francisco, Manuel, David, Alejandro, Daniel, Ángel, Diego, Andrés, Fernando, Ricardo,
            Javier, Eduardo, Rafael, Roberto, Alberto, Sergio, Óscar, Raúl, Mario, Gabriel,
            Héctor, Pablo, Santiago, Sebastián, Mateo, Samuel, Julio, Víctor, Enrique, Arturo,
            Ramón, Hugo, Nelson, Wilmer, Yeferson, Jhon, Brayan, Kevin, Anderson, Ronald, Edwin,
            Freddy, Gustavo, Orlando, Wilson, Álvaro, Cristian, Emanuel, Leonardo, Marcos,
            Simón""",
        "given_female": """María, Ana, Carmen, Rosa, Luz, Gabriela, Daniela, Andrea, Carolina,
            Valentina, Mariana, Camila, Sofía, Isabella, Paola, Patricia, Claudia, Alejandra,
            Laura, Diana, Adriana, Yolanda, Marisol, Yesenia, Yuleisy, Génesis, Yuliana, Karla,
            Fernanda, Lucía, Elena, Gloria, Teresa, Beatriz, Milagros, Esperanza, Guadalupe,
            Juliana, Natalia, Paula, Yenny, Johana, Leidy, Marcela, Sandra, Sara, Victoria,
            Angélica, Fabiola, Mayerlin, Dayana, Nathaly, Rosmery, Yaneth, Lorena, Liliana""",
        "family": """González, Rodríguez, Pérez, Hernández, García, Martínez, López, Sánchez,
            Ramírez, Torres, Flores, Rivera, Gómez, Díaz, Morales, Vargas, Castillo, Jiménez,
            Moreno, Romero, Herrera, Medina, Aguilar, Mendoza, Rojas, Ortiz, Gutiérrez, Chávez,
            Ruiz, Álvarez, Castro, Fernández, Suárez, Ramos, Vásquez, Reyes, Cruz, Guzmán,
            Salazar, Contreras, Silva, Peña, Rincón, Mejía, Cárdenas, Acosta, Molina, Delgado,
            Navarro, Sandoval, Quintero, Cabrera, Paredes, Figueroa, Montilla, Zambrano, Marcano,
            Bolívar, Colmenares, Briceño""",
        "place": """Caracas, Maracaibo, Valencia, Barquisimeto, Maracay, Ciudad Guayana,
            San Cristóbal, Barcelona, Maturín, Cumaná, Mérida, Barinas, Bogotá, Cúcuta, Medellín,
            Cali, Barranquilla, Tegucigalpa, San Pedro Sula, San Salvador, Ciudad de Guatemala,
            Quetzaltenango, Managua, Quito, Guayaquil, Lima, Ciudad Juárez, Tapachula, Tijuana,
            Puerto Ayacucho, Valledupar, Riohacha, Pasto, Santa Marta""",
    },
    "french_africa": {
        "given_male": """Mamadou, Moussa, Ibrahima, Abdoulaye, Amadou, Ousmane, Souleymane,
            Boubacar, Issa, Adama, Seydou, Oumar, Jean, Pierre, Joseph, Emmanuel, Jean-Baptiste,
            Jean-Pierre, Patrick, Christian, François, Paul, Michel, Daniel, Alain, Serge, Didier,
            Hervé, Junior, Fiston, Christophe, Olivier, Guy, Innocent, Dieudonné, Prosper,
            Jacques, Théophile, Aimé, Blaise, Lamine, Cheikh, Aliou, Idrissa, Modibo, Bakary,
            Sékou, Yacouba, Dramane, Salif, Hamidou, Youssouf, Abdou, Alassane, Mahamadou,
            Oumarou, Karim, Siaka, Drissa, Tidiane""",
        "given_female": """Aminata, Fatoumata, Mariam, Awa, Aïssata, Kadiatou, Mariama, Hawa,
            Salimata, Rokia, Ramata, Adja, Assétou, Djénéba, Fanta, Oumou, Kadidia, Bintou, Aïcha,
            Marie, Marie-Claire, Jeanne, Françoise, Claudine, Chantal, Joséphine, Grâce, Esther,
            Ruth, Rachel, Sarah, Christine, Brigitte, Odette, Alphonsine, Espérance, Clarisse,
            Béatrice, Solange, Pascaline, Nadine, Sandrine, Mireille, Félicité, Germaine, Rosalie,
            Jeannette, Yvonne, Antoinette, Henriette, Nafissatou, Safiatou, Ténin, Korotoumou,
            Maimouna, Alimata""",
        "family": """Diallo, Traoré, Coulibaly, Keita, Koné, Diarra, Touré, Camara, Cissé,
            Sangaré, Ouédraogo, Sawadogo, Kaboré, Zongo, Compaoré, Ouattara, Bamba, Konaté, Sylla,
            Sow, Bah, Barry, Ba, Ndiaye, Diop, Fall, Sy, Kanté, Doumbia, Dembélé, Sidibé, Maïga,
            Cissoko, Kouyaté, Mbemba, Kabila, Ilunga, Kasongo, Mukendi, Tshibangu, Mbuyi, Kabongo,
            Ngoy, Mwamba, Kalala, Mutombo, Lumumba, Nkurunziza, Habimana, Niyonzima, Ndayisenga,
            Hakizimana, Uwimana, Bizimana, Ngando, Mbarga, Essomba, Atangana, Nana, Kouassi,
            Kouamé, Konan, N'Guessan""",
        "place": """Bamako, Mopti, Gao, Tombouctou, Ségou, Kidal, Ouagadougou, Bobo-Dioulasso,
            Djibo, Kaya, Dori, Niamey, Diffa, Tillabéri, Maradi, Bangui, Bambari, Kaga-Bandoro,
            Bria, N'Djamena, Abéché, Goma, Bukavu, Bunia, Kinshasa, Kananga, Beni, Uvira, Maroua,
            Kousseri, Bujumbura, Minawao, Mbera Camp, Conakry, Abidjan""",
    },
    "rohingya": {
        "given_male": """Mohammed Ayub, Nurul Islam, Abdul Karim, Mohammed Rafiq, Abul Kalam,
            Zafar Alam, Nur Mohammed, Sayed Alam, Mohammed Yunus, Rashid Ahmed, Abdul Hamid,
            Kabir Ahmed, Jamal Hossain, Shafi Alam, Hussain Ahmed, Mohammed Hashim, Abdur Rahim,
            Nur Alam, Mohammed Salim, Ali Ahmed, Mohammed Idris, Anwar Hossain, Shah Alam,
            Mohammed Ismail, Zakir Hossain, Abu Taher, Mohammed Sadek, Lal Miah, Dil Mohammed,
            Abdul Shukkur, Mohammed Yusuf, Rahmat Ullah, Hafez Ahmed, Sirajul Islam,
            Mohammed Jubair, Mohammed Alam, Hamid Hossain, Mohammed Eliyas, Kala Miah,
            Abdul Gaffar, Mohammed Toyub, Noor Hossain, Nur Kamal, Mohammed Ali, Abdul Malek,
            Mohammed Amin, Rafiqul Islam, Mohammed Karim, Jafar Alam, Osman Goni, Abdul Aziz,
            Mohammed Harun, Nurul Amin, Mohammed Shafi""",
        "given_female": """Nur Begum, Rahima Khatun, Hasina Begum, Jamalida, Shahida Begum,
            Laila Begum, Sanjida, Rashida Begum, Minara Begum, Nur Kaida, Sabekun Nahar,
            Hamida Khatun, Senuara, Rabeya Khatun, Asma Begum, Rokeya Begum, Sufia Khatun,
            Dilbahar, Khurshida, Ayesha Siddika, Nurjahan, Taslima, Rozina, Jannat Ara,
            Monowara Begum, Shamima, Sajida, Hosne Ara, Umme Salma, Formin Akter, Arafa,
            Hamida Begum, Fatema Khatun, Khadiza, Noor Fatima, Sahera Khatun, Anwara Begum,
            Johura Begum, Mumtaz Begum, Samira, Minuara, Bibi Zohura, Sokina Khatun, Rehana,
            Yasmin Ara, Setara Begum, Jomila, Fatema Begum, Dildar Begum, Morium, Kulsuma,
            Tahera""",
        "family": "",
        "place": """Maungdaw, Buthidaung, Rathedaung, Sittwe, Kyauktaw, Minbya, Mrauk U,
            Ponnagyun, Pauktaw, Kutupalong, Balukhali, Jamtoli, Nayapara, Leda, Shamlapur,
            Teknaf, Ukhia, Cox's Bazar, Bhasan Char, Hakimpara, Thangkhali, Unchiprang,
            Kyaukphyu, Myebon""",
    },
}

GROUPS: dict[str, str] = {
    "any": """
        Mohammed=30, Muhammad=20, Mohamed=20, Mohammad=14, Mohamad=8, Muhamed=4, Mohammod=4;
        Ahmed=40, Ahmad=35, Ahamed=10, Ahmet=10, Achmed=5; Ali=80, Aly=15, Alee=5;
        Hassan=60, Hasan=30, Hassen=5, Hasen=5;
        Hussein=35, Hussain=25, Husein=10, Hossein=10, Hossain=10, Husain=5, Hosen=5;
        Abdulrahman=35, Abdelrahman=20, Abdirahman=20, Abdurahman=15, Abdul Rahman=10;
        Abdullah=50, Abdallah=20, Abdulla=20, Abdalla=10;
        Yusuf=25, Yousef=20, Youssef=20, Yousuf=15, Yusef=10, Yosef=5, Yussuf=5;
        Omar=60, Umar=25, Omer=15; Osman=40, Othman=25, Usman=20, Uthman=15;
        Ibrahim=60, Ebrahim=20, Ibraheem=10, Ibrahem=10;
        Ismail=55, Ismael=20, Esmail=15, Ismaeel=10;
        Mustafa=45, Mostafa=25, Moustafa=20, Mustapha=10; Mahmoud=45, Mahmud=30, Mahmood=25;
        Khaled=45, Khalid=45, Khaleed=10; Suleiman=35, Sulaiman=30, Sulayman=15, Suleyman=10,
        Soliman=10; Musa=50, Mousa=25, Moosa=15, Moussa=10; Issa=50, Isa=35, Eisa=15;
        Yahya=60, Yehia=20, Yahia=20; Hamza=70, Hamzah=20, Hamsa=10; Abbas=70, Abas=30;
        Jaafar=40, Jafar=40, Jaffar=20; Qasim=35, Kasim=20, Qassem=20, Kassim=15, Qassim=10;
        Tariq=40, Tarek=30, Tareq=30; Abdulkadir=40, Abdelkader=20, Abdulqadir=20, Abdikadir=20;
        Abdelaziz=40, Abdulaziz=40, Abdiaziz=20; Bashir=60, Basheer=25, Bachir=15;
        Nasser=40, Nasir=30, Naser=20, Nassir=10; Karim=60, Kareem=30, Karem=10;
        Hamid=60, Hameed=25, Hamed=15; Rahim=60, Raheem=30, Rahem=10; Najib=60, Najeeb=40;
        Habib=60, Habeeb=40; Farid=60, Fareed=40; Wahid=60, Waheed=40;
        Rashid=60, Rasheed=30, Rachid=10; Idris=60, Idriss=20, Edris=20;
        Sayed=50, Sayyed=25, Syed=25; Said=50, Saeed=30, Saed=20; Noor=40, Nour=30, Nur=30;
        Osama=60, Usama=40; Ayman=60, Aiman=40; Yasser=50, Yasir=30, Yaser=20;
        Ziad=60, Ziyad=25, Zyad=15; Majed=50, Majid=40, Maged=10; Haidar=50, Haider=35, Hayder=15;
        Mortada=40, Murtada=35, Murtadha=25; Saleh=60, Salih=40; Jamal=70, Gamal=30;
        Walid=60, Waleed=40; Adel=60, Adil=40; Faisal=60, Faysal=25, Feisal=15;
        Nabil=60, Nabeel=40; Samir=60, Sameer=40; Bilal=80, Belal=20; Hashim=60, Hashem=40;
        Aisha=35, Ayesha=20, Aicha=15, Aysha=15, Aesha=5, Ayisha=10;
        Fatima=40, Fatma=15, Fatimah=15, Fatema=15, Fatuma=10, Fatouma=5;
        Khadija=45, Khadijah=20, Kadija=15, Khadeeja=10, Khadiza=10;
        Maryam=40, Mariam=35, Mariyam=15, Meryem=10; Zainab=40, Zeinab=25, Zaynab=20, Zeynab=15;
        Amina=60, Aminah=20, Ameena=20; Halima=60, Halimah=20, Haleema=20;
        Hawa=70, Hawwa=15, Haoua=15; Yasmin=40, Yasmine=25, Yasmeen=25, Jasmin=10;
        Zahra=50, Zohra=25, Zahraa=25; Sakina=60, Sakineh=20, Sokina=20;
        Layla=50, Laila=30, Leila=20; Nisreen=40, Nasrin=30, Nesrine=15, Nisrin=15;
        Ruqaya=40, Ruqia=30, Roqaya=20, Rukia=10; Sumaya=50, Somaya=25, Sumayah=25;
        Suad=60, Souad=25, Sucaad=15; Safiya=50, Safia=30, Safiyya=20; Salma=70, Selma=30;
        Asmaa=50, Asma=50; Hanan=80, Hanane=20; Iman=60, Eman=40; Huda=60, Hoda=40;
        Hiba=60, Heba=40; Reem=60, Rim=40; Doaa=50, Duaa=30, Doa=20; Haneen=60, Hanin=40;
        Rania=60, Ranya=40; Wafaa=50, Wafa=50; Safaa=50, Safa=50; Abeer=70, Abir=30;
        Hafsa=60, Hafsah=40; Habiba=60, Habeeba=40; Naima=50, Naeema=25, Naciima=25;
        Rabia=50, Rabeya=30, Rabea=20; Haddad=70, Hadad=30; Darwish=60, Darweesh=40;
        Shaheen=50, Shahin=50; Sabbagh=60, Sabagh=40; Yassin=50, Yasin=40, Yaseen=10;
        Mansour=60, Mansur=40; Ahmadzai=60, Ahmadzay=40; Stanekzai=60, Stanikzai=40;
        Yousufzai=50, Yousafzai=30, Yusufzai=20; Hashimi=60, Hashemi=40;
        Rezaie=40, Rezaei=30, Rezai=30; Hussaini=50, Hosseini=30, Husaini=20;
        Haidari=60, Haidary=20, Heydari=20; Mohammadi=60, Muhammadi=20, Mohamadi=20;
        Noori=60, Nouri=20, Nuri=20; Zabihullah=50, Zabiullah=30, Zabihulla=20;
        Naqibullah=60, Naqeebullah=40; Hayatullah=60, Hayatulla=40;
        Ezatullah=50, Izatullah=30, Ezzatullah=20; Rahmatullah=60, Rahmatulla=40;
        Hekmatullah=50, Hikmatullah=50; Samiullah=60, Sami Ullah=40; Amanullah=60, Aman Ullah=40;
        Hasibullah=60, Haseebullah=40; Mirwais=60, Mir Wais=20, Mirways=20;
        Gulalai=60, Gulalay=40; Malalai=60, Malalay=40; Freshta=50, Fereshta=30, Fereshteh=20;
        Zarghona=50, Zarghuna=50; Mahbooba=60, Mahbuba=40; Shukria=60, Shukriya=40;
        Masooma=40, Masuma=35, Masoumeh=25; Nargis=70, Narges=30; Soraya=60, Suraya=40;
        Storay=60, Sturay=40; Tahmina=50, Tahmineh=50; Shakila=60, Shakeela=40;
        Marzia=50, Marziya=30, Marzieh=20; Razia=50, Raziya=30, Razieh=20;
        Faridoon=50, Fereydoun=25, Faridun=25; Javed=50, Jawed=30, Javid=20; Jawad=60, Javad=40;
        Masood=50, Masoud=30, Masud=20; Haroon=50, Harun=30, Haroun=20; Mahdi=60, Mehdi=40;
        Shafiq=60, Shafeeq=40; Zalmai=60, Zalmay=40; Qadir=50, Qader=30, Kadir=20;
        Abdi=80, Abdy=20; Farah=60, Fara=40; Aden=50, Adan=40, Aadan=10; Jama=60, Jamac=40;
        Warsame=60, Warsama=40; Dahir=60, Daahir=40; Musse=50, Muse=30, Muuse=20;
        Guled=60, Guuleed=40; Liban=60, Liibaan=40; Mahad=60, Mahaad=40; Siad=60, Siyaad=40;
        Duale=60, Dualeh=40; Ubah=60, Ubax=40; Deeqa=60, Deka=40; Nimco=50, Nimo=50;
        Fardowsa=50, Firdaus=25, Fardosa=25; Ayan=60, Ayaan=40; Farhiya=60, Farxiyo=40;
        Kaltun=60, Kaltuum=40; Sahra=60, Sahro=40; Nasra=60, Nasro=40;
        Tesfay=40, Tesfai=30, Tesfaye=30; Yohannes=50, Yohanes=30, Johannes=20;
        Gebremedhin=40, Ghebremedhin=35, Gebremedin=25; Tekle=50, Tecle=35, Teckle=15;
        Berhane=50, Birhane=30, Berhan=20; Haile=70, Hayle=30; Mihret=50, Mehret=35, Mhret=15;
        Tsegay=40, Tsegai=35, Tsegaye=25; Okbay=50, Ukbay=30, Okbai=20;
        Ghirmay=40, Girmay=40, Ghirmai=20; Russom=60, Rusom=40; Semere=60, Semre=40;
        Yemane=60, Yemani=40; Weldu=50, Woldu=50; Woldemichael=40, Weldemichael=30,
        Woldemikael=30; Habte=60, Habtay=40; Kidane=60, Kidan=40; Tewolde=60, Tewelde=40;
        Tedros=60, Tewodros=40; Biniam=50, Biniyam=30, Binyam=20; Freweyni=50, Freweini=50;
        Luwam=70, Luam=30; Ksanet=60, Kisanet=40; Azieb=60, Aziyeb=40; Tirhas=60, Tirhaz=40;
        Kyiv=70, Kiev=30; Kharkiv=70, Kharkov=30; Odesa=60, Odessa=40; Lviv=70, Lvov=30;
        Zaporizhzhia=50, Zaporizhia=25, Zaporozhye=25; Mykolaiv=60, Mykolayiv=20, Nikolaev=20;
        Luhansk=70, Lugansk=30; Chernihiv=70, Chernigov=30; Kryvyi Rih=70, Krivoy Rog=30;
        Mogadishu=60, Muqdisho=25, Mogadisho=15; Kismayo=60, Kismaayo=40; Baidoa=60, Baydhabo=40;
        Beledweyne=60, Beletweyne=40; Galkayo=60, Gaalkacyo=40; Bosaso=60, Bosaaso=40;
        Aleppo=70, Halab=30; Deir ez-Zor=50, Deir Ezzor=30, Dayr az-Zawr=20;
        Mazar-i-Sharif=50, Mazar-e-Sharif=30, Mazar=20; Maungdaw=60, Maungtaw=40;
        Buthidaung=60, Buthedaung=40; Sittwe=70, Akyab=30; Cox's Bazar=60, Coxs Bazar=20,
        Cox Bazar=20; Kutupalong=60, Kutupalang=40; Nayapara=60, Naya Para=40;
        Tombouctou=60, Timbuktu=40; Ouagadougou=70, Ouaga=30
    """,
    "somali": """
        Mohamed=50, Mohammed=15, Maxamed=15, Muhammad=10, Mohammad=5, Muhumed=5;
        Ahmed=60, Axmed=20, Ahmad=20; Ali=75, Cali=20, Aly=5; Hassan=60, Xasan=20, Hasan=20;
        Hussein=60, Xuseen=20, Husein=20; Abdirahman=60, Cabdiraxmaan=15, Abdurahman=15,
        Abdulrahman=10; Abdullahi=60, Cabdullaahi=15, Abdulahi=15, Abdillahi=10;
        Omar=60, Cumar=20, Umar=20; Osman=60, Cismaan=20, Usman=20; Abdi=70, Cabdi=20, Abdy=10;
        Asha=60, Aisha=25, Caasha=15; Fatuma=35, Faduma=25, Fatima=20, Faadumo=15, Fadumo=5;
        Maryan=60, Maryam=25, Mariam=15; Hirsi=60, Xirsi=40; Elmi=60, Cilmi=40;
        Isse=50, Ise=30, Ciise=20; Awil=60, Cawil=40; Egal=60, Cigaal=40; Hashi=60, Xaashi=40
    """,
    "dari_pashto": """
        Mohammad=45, Muhammad=20, Mohammed=15, Mohamad=10, Muhammed=10
    """,
    "rohingya": """
        Mohammed=40, Mohammad=25, Muhammad=15, Mohamad=10, Md=10;
        Hossain=50, Hussain=30, Hossen=20; Nurul=70, Norul=15, Nurool=15; Abul=70, Abol=30;
        Abdul=70, Abdool=10, Abdel=20; Abdur=60, Abdor=40; Alam=70, Alom=30;
        Miah=50, Mia=25, Miya=25; Begum=70, Begam=20, Bagum=10; Khatun=60, Khatoon=30, Katun=10;
        Rafiq=60, Rafique=40; Yunus=50, Younus=30, Yunous=20; Salim=60, Saleem=25, Selim=15;
        Sadek=60, Sadiq=40; Jubair=60, Zubair=40; Eliyas=50, Elias=30, Ilyas=20;
        Toyub=50, Tayyab=25, Taiyub=25; Shukkur=60, Shukur=40; Gaffar=60, Gafur=40;
        Taher=60, Tahir=40; Ayub=50, Ayoub=30, Ayyub=20; Zafar=60, Zafor=40; Zakir=60, Jakir=40;
        Anwar=50, Anowar=30, Anwer=20; Kabir=60, Kobir=40; Hafez=60, Hafiz=40;
        Rashida=50, Roshida=30, Rasheda=20; Rahima=60, Rahema=40; Shahida=60, Shaheda=40;
        Rokeya=60, Rokiya=40; Siddika=50, Siddiqa=50; Nurjahan=50, Nur Jahan=30, Noorjahan=20;
        Taslima=60, Toslima=40; Rozina=60, Rojina=40; Monowara=50, Monwara=30, Manowara=20;
        Akter=50, Akhter=30, Aktar=20; Johura=50, Zohura=30, Jahura=20; Mumtaz=60, Momtaz=40;
        Morium=60, Moriom=40; Jomila=60, Jamila=40
    """,
    "ukrainian": """
        Oleksandr=50, Aleksandr=15, Alexander=15, Olexandr=10, Oleksander=10;
        Olena=60, Elena=25, Alyona=15; Serhii=45, Serhiy=25, Sergey=15, Sergii=15;
        Andrii=45, Andriy=30, Andrey=15, Andrij=10; Dmytro=60, Dmitry=20, Dmitriy=10, Dmytriy=10;
        Mykola=60, Nikolai=20, Nikolay=10, Mikola=10; Oleksii=45, Oleksiy=30, Alexey=15, Aleksei=10;
        Yurii=45, Yuriy=30, Yuri=15, Iurii=10; Mykhailo=60, Mykhaylo=20, Mikhail=20;
        Ihor=70, Igor=30;
        Yevhen=45, Yevgen=20, Evgeniy=20, Ievgen=15; Hryhorii=50, Hryhoriy=30, Grigoriy=20;
        Vasyl=60, Vasiliy=20, Vasil=20; Vitalii=50, Vitaliy=40, Vitaly=10;
        Valerii=50, Valeriy=40, Valery=10; Anatolii=50, Anatoliy=40, Anatoly=10;
        Illia=40, Illya=30, Ilya=30; Kostiantyn=45, Kostyantyn=30, Konstantin=25;
        Kyrylo=60, Kirill=40; Volodymyr=60, Vladimir=30, Volodimir=10;
        Maksym=60, Maksim=25, Maxim=15;
        Denys=70, Denis=30; Vadym=70, Vadim=30; Oleh=70, Oleg=30; Artem=70, Artiom=15, Artyom=15;
        Yehor=60, Egor=20, Yegor=20; Mykyta=60, Nikita=40; Heorhii=50, Heorhiy=25, Georgiy=25;
        Bohdan=70, Bogdan=30; Petro=70, Petr=30; Fedir=60, Fedor=40; Borys=70, Boris=30;
        Danylo=60, Danilo=20, Daniil=20; Vladyslav=60, Vladislav=40; Viktor=70, Victor=30;
        Tetiana=40, Tetyana=30, Tatiana=20, Tatyana=10; Nataliia=40, Nataliya=25, Natalia=25,
        Natalya=10; Yuliia=45, Yuliya=25, Yulia=20, Iuliia=10; Olha=60, Olga=40;
        Mariia=50, Mariya=30, Maria=20; Kateryna=60, Ekaterina=20, Katerina=20;
        Liudmyla=40, Lyudmyla=25, Lyudmila=20, Ludmila=15; Halyna=60, Galina=30, Halina=10;
        Anastasiia=40, Anastasiya=30, Anastasia=30; Viktoriia=40, Viktoriya=25, Viktoria=20,
        Victoria=15; Hanna=70, Ganna=30; Nadiia=50, Nadiya=30, Nadezhda=20;
        Sofiia=50, Sofiya=30, Sofia=20; Daria=50, Dariia=30, Darya=20; Svitlana=70, Svetlana=30;
        Iryna=60, Irina=40; Liubov=50, Lyubov=50; Khrystyna=50, Khristina=25, Kristina=25;
        Valentyna=60, Valentina=40; Larysa=60, Larisa=40; Zoia=60, Zoya=40; Vira=60, Vera=40;
        Oleksandra=60, Aleksandra=25, Olexandra=15; Maryna=60, Marina=40;
        Melnyk=60, Melnik=40; Boiko=60, Boyko=40; Oliinyk=50, Oliynyk=30, Oleinik=20;
        Lysenko=70, Lisenko=30; Klymenko=60, Klimenko=40; Sydorenko=60, Sidorenko=40;
        Havryliuk=50, Havrylyuk=25, Gavrilyuk=25; Hrytsenko=60, Gritsenko=40;
        Honcharenko=60, Goncharenko=40; Holub=60, Golub=40; Yakovenko=60, Iakovenko=40;
        Lytvynenko=60, Litvinenko=40; Prykhodko=60, Prikhodko=40; Hnatiuk=60, Hnatyuk=40
    """,
    "spanish": """
        María=60, Maria=40; Jhon=50, John=30, Jon=20; Brayan=50, Bryan=30, Brian=20;
        Yeferson=40, Jeferson=25, Jefferson=25, Yefferson=10; Yesenia=50, Jessenia=25, Yessenia=25;
        Yenny=40, Jenny=40, Yeni=20; Johana=50, Johanna=30, Yohana=20; Leidy=50, Leydi=30, Lady=20;
        Dayana=60, Dayanna=40; Nathaly=40, Nataly=25, Nathalie=20, Natali=15;
        Vásquez=50, Vázquez=30, Vasquez=20; Yuleisy=50, Yuleisi=30, Yulexi=20;
        Mayerlin=50, Mayerling=30, Maierlin=20; Wilmer=70, Wilmar=30;
        Rosmery=50, Rosmary=25, Rosemary=25; Yaneth=50, Janeth=30, Yanet=20;
        Cristian=50, Christian=30, Kristian=20; Freddy=60, Fredy=40
    """,
    "french_africa": """
        Mamadou=50, Mamadu=20, Mamoudou=15, Mohamadou=15; Moussa=70, Mousa=15, Musa=15;
        Ibrahima=60, Ibrahim=25, Ebrahima=15; Abdoulaye=50, Abdulai=20, Abdoulahi=15, Abdoulay=15;
        Ousmane=60, Usman=15, Osman=15, Ousman=10; Souleymane=60, Soulemane=20, Suleiman=20;
        Boubacar=50, Aboubacar=20, Abubakar=20, Bubacarr=10; Oumar=60, Omar=30, Umar=10;
        Youssouf=60, Yusuf=20, Yousouf=20; Aïcha=50, Aicha=35, Aisha=15;
        Aïssata=40, Aissata=40, Aissatou=20; Fatoumata=50, Fatimata=30, Fatoumatta=20;
        Kadiatou=50, Kadidiatou=25, Khadijatou=25; Ouédraogo=50, Ouedraogo=40, Wedraogo=10;
        Coulibaly=60, Kulibali=20, Coulibali=20; Touré=50, Toure=40, Ture=10;
        Cissé=50, Cisse=40, Sise=10; Keita=60, Keïta=30, Kaita=10; Diallo=60, Jallow=25, Djallo=15;
        Ndiaye=60, N'Diaye=30, Njie=10; Kouyaté=50, Kouyate=35, Kuyateh=15;
        Djénéba=50, Djeneba=30, Jeneba=20; Sékou=50, Sekou=35, Seku=15;
        Bakary=50, Bakari=35, Bakarry=15; Seydou=60, Saidou=40; Salif=70, Salifou=30;
        Oumarou=60, Umaru=40; Mahamadou=60, Mahamoudou=40; Idrissa=70, Idrisa=30;
        Nafissatou=60, Nafisatou=40; Emmanuel=60, Emanuel=40; Dieudonné=60, Dieudonne=30,
        Dieu-Donné=10
    """,
    "tigrinya": """
        Dawit=80, David=20; Amanuel=50, Emmanuel=30, Amanual=20; Filmon=60, Philemon=40;
        Yohana=60, Johana=40
    """,
}
